/**
 * The worker side of `WorkerCodec` (sink_codec.ts): answers each request with
 * the same functions the inline codec uses.
 * @module
 */

import { type CodecReply, type CodecRequest, gzipText, validateLines } from "./sink_codec.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<CodecRequest>) => void) | null;
  postMessage(message: CodecReply, transfer?: Transferable[]): void;
};

scope.onmessage = (e) => {
  const request = e.data;
  try {
    if (request.op === "validate") {
      scope.postMessage({ id: request.id, invalid: validateLines(request.lines) });
    } else {
      const gz = gzipText(request.text, request.level);
      // Moved, not copied, unless it is a view into a larger (pooled) buffer.
      const whole = gz.byteOffset === 0 && gz.byteLength === gz.buffer.byteLength;
      const bytes = whole ? gz : new Uint8Array(gz);
      scope.postMessage({ id: request.id, bytes }, [bytes.buffer as ArrayBuffer]);
    }
  } catch (error) {
    scope.postMessage({ id: request.id, error: String(error) });
  }
};
