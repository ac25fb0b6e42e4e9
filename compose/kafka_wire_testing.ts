/**
 * What the kafka wire tests share: bytes written by hand, field by field, after the layouts of
 * Kafka's message specs, to hold the encoders to.
 *
 * ```ts
 * import { bytes } from "./kafka_wire_testing.ts";
 * bytes(["i32", 1], ["str", "t"], ["i16", 6]);
 * ```
 * @module
 */

import { FrameBuffer } from "./kafka_wire.ts";

/** Bytes from a list of [type, value] pairs, written by hand after the spec's layouts. */
export function bytes(...fields: [string, number | bigint | string | null][]): Uint8Array {
  const parts: number[] = [];
  for (const [type, v] of fields) {
    const b = new Uint8Array(8);
    const view = new DataView(b.buffer);
    if (type === "i8") parts.push(Number(v) & 0xff);
    else if (type === "i16") view.setInt16(0, Number(v)), parts.push(...b.subarray(0, 2));
    else if (type === "i32") view.setInt32(0, Number(v)), parts.push(...b.subarray(0, 4));
    else if (type === "i64") view.setBigInt64(0, BigInt(v!)), parts.push(...b.subarray(0, 8));
    else if (type === "uv") parts.push(Number(v)); // one-byte varints only
    else if (type === "str") {
      if (v === null) parts.push(0xff, 0xff);
      else {
        const s = new TextEncoder().encode(String(v));
        view.setInt16(0, s.length);
        parts.push(...b.subarray(0, 2), ...s);
      }
    } else throw new Error(`unknown type ${type}`);
  }
  return new Uint8Array(parts);
}

/**
 * A fake broker on a free loopback port: each request frame it reads (size prefix removed) goes
 * to `onRequest` with its connection, which answers as it likes (or not at all).
 */
export function serveFakeBroker(
  onRequest: (f: Uint8Array, conn: Deno.Conn) => void | Promise<void>,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const frames = new FrameBuffer();
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          for (const f of frames.push(buf.subarray(0, n))) await onRequest(f, conn);
        }
      })();
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    close() {
      listener.close();
      for (const c of conns) c.close();
    },
  };
}
