/**
 * The sink's CPU work on records, parse+validate and gzip, behind one
 * interface: `inlineCodec()` does it on the calling thread, `WorkerCodec` in a
 * Web Worker (`_sink_codec_worker.ts`), so the sink's thread keeps fetching,
 * decoding Kafka's record batches and uploading while another core parses and
 * compresses. Same results either way (`sink_codec_test.ts`).
 *
 * A worker that dies is replaced by the inline codec, with a message on
 * stderr; the requests it held are done inline, so none is lost.
 *
 * ```ts
 * import { WorkerCodec } from "./sink_codec.ts";
 * const codec = new WorkerCodec();
 * const invalid = await codec.validate(['{"not":"an event"}']); // [{ index: 0, reason: ... }]
 * const gz = await codec.gzip("a\nb\n", 3);
 * codec.close();
 * ```
 * @module
 */

import { gzipSync } from "node:zlib";
import { parseEvent } from "./event.ts";
import { isCanonicalEvent } from "./event_text.ts";

/** A record that failed parse or validation, by its index in the request. */
export interface InvalidRecord {
  index: number;
  reason: string;
  producer_id?: string;
  seq?: number;
}

export interface SinkCodec {
  /** The records of `lines` that are not valid events (the rest are). */
  validate(lines: string[]): Promise<InvalidRecord[]>;
  /** `text` (UTF-8) gzipped at `level`. */
  gzip(text: string, level: number): Promise<Uint8Array>;
  close(): void;
}

/**
 * The work itself, shared by the inline codec and the worker. A canonical text (event_text.ts)
 * is valid without parsing it; any other goes through `parseEvent`, which decides.
 */
export function validateLines(lines: readonly string[]): InvalidRecord[] {
  const invalid: InvalidRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (isCanonicalEvent(lines[i])) continue;
    const parsed = parseEvent(lines[i]);
    if (!parsed.ok) {
      invalid.push({
        index: i,
        reason: parsed.reason,
        ...(parsed.producer_id !== undefined ? { producer_id: parsed.producer_id } : {}),
        ...(parsed.seq !== undefined ? { seq: parsed.seq } : {}),
      });
    }
  }
  return invalid;
}

export function gzipText(text: string, level: number): Uint8Array {
  return gzipSync(new TextEncoder().encode(text), { level });
}

export function inlineCodec(): SinkCodec {
  return {
    validate: (lines) => Promise.resolve(validateLines(lines)),
    gzip: (text, level) => Promise.resolve(gzipText(text, level)),
    close() {},
  };
}

export type CodecRequest =
  | { id: number; op: "validate"; lines: string[] }
  | { id: number; op: "gzip"; text: string; level: number };

export type CodecReply =
  | { id: number; invalid: InvalidRecord[] }
  | { id: number; bytes: Uint8Array }
  | { id: number; error: string };

interface Waiting {
  request: CodecRequest;
  resolve: (reply: CodecReply) => void;
}

/** The request answered on this thread. */
function answerInline(request: CodecRequest): CodecReply {
  return request.op === "validate"
    ? { id: request.id, invalid: validateLines(request.lines) }
    : { id: request.id, bytes: gzipText(request.text, request.level) };
}

export class WorkerCodec implements SinkCodec {
  #worker: Worker | undefined;
  #next = 0;
  readonly #waiting = new Map<number, Waiting>();

  constructor() {
    const worker = new Worker(new URL("./_sink_codec_worker.ts", import.meta.url).href, {
      type: "module",
    });
    worker.onmessage = (e: MessageEvent<CodecReply>) => {
      const waiting = this.#waiting.get(e.data.id);
      this.#waiting.delete(e.data.id);
      waiting?.resolve(e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      console.error(`sink: the codec worker failed (${e.message}); parsing and gzip go inline`);
      this.close();
    };
    this.#worker = worker;
  }

  async validate(lines: string[]): Promise<InvalidRecord[]> {
    const reply = await this.#ask({ id: this.#next++, op: "validate", lines });
    return (reply as { invalid: InvalidRecord[] }).invalid;
  }

  async gzip(text: string, level: number): Promise<Uint8Array> {
    const reply = await this.#ask({ id: this.#next++, op: "gzip", text, level });
    return (reply as { bytes: Uint8Array }).bytes;
  }

  /** Ends the worker; what it still held, and every later request, is answered inline. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.resolve(answerInline(w.request));
  }

  async #ask(request: CodecRequest): Promise<CodecReply> {
    const reply = this.#worker
      ? await new Promise<CodecReply>((resolve) => {
        this.#waiting.set(request.id, { request, resolve });
        this.#worker!.postMessage(request);
      })
      : answerInline(request);
    if ("error" in reply) throw new Error(`codec worker: ${reply.error}`);
    return reply;
  }
}
