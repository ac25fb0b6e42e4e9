/**
 * The audit's lean Fetch (_audit_fetch.ts) against the client's own decoder on the same bytes:
 * every record's offset, value and producer session as `readRecordsBatches` gives them, for
 * every record shape (keys null or not, headers, null and empty values, values up to 1 MB),
 * compressed batches (gzip, snappy, lz4, zstd when this runtime has it), control batches and a
 * batch cut by the answer's size limit; a damaged batch is an error naming its offset, never
 * skipped; the answer's parser reads what the client's reads, records kept as bytes.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  compressionsAlgorithms,
  createRecordsBatch,
  fetchV12,
  fetchV17,
  Reader,
  readRecordsBatches,
  Writer,
} from "@platformatic/kafka";
import { AuditDecodeError, leanFetchParser, LeanRecords, walkBatches } from "./_audit_fetch.ts";
import { sessionOf } from "./topic_table.ts";

type Row = [offset: number, value: string | null, session: number];

const enc = new TextEncoder();

/** One batch as the client writes it, at `base`, optionally a control batch. */
function batch(
  base: number,
  messages: {
    key?: string | null;
    value: Uint8Array | string | null;
    headers?: [string, string][];
  }[],
  options: { compression?: string; producerId?: bigint; epoch?: number; control?: boolean } = {},
): Uint8Array {
  const written = createRecordsBatch(
    messages.map((m) => ({
      topic: "t",
      key: m.key == null ? undefined : Buffer.from(m.key),
      value: m.value === null ? undefined : Buffer.from(m.value as string),
      headers: m.headers
        ? new Map(m.headers.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]))
        : undefined,
      timestamp: 1_700_000_000_000n + BigInt(base),
    })) as never,
    {
      compression: options.compression as never,
      producerId: options.producerId ?? 4242n,
      producerEpoch: options.epoch ?? 3,
    } as never,
  );
  const bytes = new Uint8Array(written.buffer);
  new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(0, BigInt(base));
  if (options.control) bytes[22] |= 0x30; // attributes: transactional, control
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

const text = (v: Uint8Array | null) => v === null ? null : Buffer.from(v).toString("latin1");

/** The client's reading of `bytes`: rows from offset `next`, and the next offset. */
function clientRows(bytes: Uint8Array, next: number, limit: number): [Row[], number] {
  const rows: Row[] = [];
  for (const b of readRecordsBatches(Reader.from(Buffer.from(bytes)))) {
    const first = Number(b.firstOffset);
    for (const r of b.records) {
      const offset = first + r.offsetDelta;
      if (offset < next || offset >= limit) continue;
      rows.push([offset, text(r.value ?? null), sessionOf(b.producerId, b.producerEpoch)]);
    }
    next = Math.max(next, first + b.lastOffsetDelta + 1);
  }
  return [rows, next];
}

function leanRows(bytes: Uint8Array, next: number, limit: number): [Row[], number] {
  const rows: Row[] = [];
  const after = walkBatches(bytes, next, limit, (offset, buf, start, end, session) => {
    rows.push([offset, start < 0 ? null : text(buf.subarray(start, end)), session]);
  });
  return [rows, after];
}

function assertSame(bytes: Uint8Array, next = 0, limit = Number.MAX_SAFE_INTEGER): Row[] {
  const want = clientRows(bytes, next, limit);
  assert.deepEqual(leanRows(bytes, next, limit), want);
  return want[0];
}

const event = (i: number) => `{"producer_id":"w0","seq":${i},"pad":"${"x".repeat(i % 50)}"}`;

Deno.test("every record shape, read as the client reads it", () => {
  const big = new Uint8Array(1 << 20).fill(97);
  const bytes = concat([
    batch(0, [{ value: event(0) }, { key: "k", value: event(1) }, { value: "" }]),
    batch(3, [{ value: null }, { key: null, value: event(4), headers: [["h", "v"], ["x", ""]] }]),
    batch(5, [{ value: big }, { key: "κλειδί", value: "é\u0000\uffff" }], { producerId: -1n }),
    batch(7, Array.from({ length: 300 }, (_, i) => ({ value: event(7 + i) })), { epoch: -2 }),
    batch(2 ** 40, [{ value: event(9) }], { producerId: 2n ** 36n }),
  ]);
  const rows = assertSame(bytes);
  assert.equal(rows.length, 3 + 2 + 2 + 300 + 1);
  assert.equal(rows[3][1], null, "a null value");
  assert.equal(rows[2][1], "", "an empty value");
  assert.equal(rows[5][1]!.length, 1 << 20);
  assert.equal(rows[5][2], -1, "no producer id: no session");
  assert.equal(rows.at(-1)![0], 2 ** 40);
  // From an offset inside a batch, and up to a limit inside another.
  assertSame(bytes, 4, 100);
  assertSame(bytes, 200, 2 ** 40);
});

Deno.test("compressed batches: the client's decoder, the same records", () => {
  const codecs = ["gzip", "snappy", "lz4", "zstd"].filter((c) =>
    (compressionsAlgorithms as Record<string, { available: boolean }>)[c]?.available
  );
  assert.ok(codecs.length >= 3, `codecs: ${codecs}`);
  const parts = codecs.map((compression, i) =>
    batch(
      i * 100,
      Array.from({ length: 50 }, (_, j) => ({ value: event(j), key: j % 2 ? "k" : null })),
      {
        compression,
      },
    )
  );
  parts.push(batch(1000, [{ value: event(1) }]));
  assert.equal(assertSame(concat(parts)).length, codecs.length * 50 + 1);
});

Deno.test("control batches are records as the client reads them; a cut batch is left for the next fetch", () => {
  const control = batch(2, [{
    key: "\u0000\u0000\u0000\u0001",
    value: "\u0000\u0000\u0000\u0000\u0000\u0007",
  }], {
    control: true,
  });
  const whole = concat([batch(0, [{ value: event(0) }, { value: event(1) }]), control]);
  assert.equal(assertSame(whole).length, 3);
  const next = batch(3, [{ value: event(3) }]);
  for (const cut of [1, 11, 12, 40, next.length - 1]) {
    const bytes = concat([whole, next.subarray(0, cut)]);
    const rows = assertSame(bytes);
    assert.equal(rows.length, 3);
    assert.equal(leanRows(bytes, 0, 100)[1], 3, "the next fetch starts at the cut batch");
  }
});

Deno.test("a damaged batch is an error naming its offset, never a hole", () => {
  const good = batch(10, [{ value: event(0) }, { value: event(1) }]);
  const damaged = (edit: (b: Uint8Array, v: DataView) => void) => {
    const b = good.slice();
    edit(b, new DataView(b.buffer));
    return b;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["magic", damaged((b) => b[16] = 1), /offset 10 has magic 1/],
    ["count", damaged((_, v) => v.setInt32(57, 3)), /offset 10 has a record \(2 of 3\) cut short/],
    [
      "fewer records",
      damaged((_, v) => v.setInt32(57, 1)),
      /offset 10 holds \d+ bytes after its 1 records/,
    ],
    ["record length", damaged((b) => b[61] += 2), /offset 10 has a record \(0 of 2\)/],
    ["short", damaged((_, v) => v.setInt32(8, 20)), /offset 10 is 20 bytes long/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => leanRows(bytes, 0, 100), (e: Error) => {
      assert.ok(e instanceof AuditDecodeError, what);
      assert.match(e.message, message, what);
      return true;
    });
  }
  const badGzip = batch(10, [{ value: event(0) }], { compression: "gzip" });
  badGzip[70] ^= 0xff, badGzip[71] ^= 0xff;
  assert.throws(() => leanRows(badGzip, 0, 100), /offset 10 cannot be decompressed/);
});

/** A Fetch answer of `version` (12: topic names, 13+: ids) holding `records` for partition 2. */
function answer(version: number, records: Uint8Array | null, aborted?: [bigint, bigint][]) {
  const w = Writer.create()
    .appendInt32(0) // correlation id, read by the connection before the parser
    .appendTaggedFields()
    .appendInt32(5) // throttle
    .appendInt16(0)
    .appendInt32(77) // session
    .appendArray(
      [0],
      (w) => {
        if (version >= 13) w.appendUUID("0f0e0d0c-0b0a-0908-0706-050403020100");
        else w.appendString("topic-a");
        w.appendArray(
          [2],
          (w) => {
            w.appendInt32(2).appendInt16(0).appendInt64(900n).appendInt64(899n).appendInt64(3n);
            if (aborted) {
              w.appendArray(
                aborted,
                (w, [id, first]) => w.appendInt64(id).appendInt64(first),
                true,
                true,
              );
            } else w.appendUnsignedVarInt(0); // null
            w.appendInt32(-1);
            if (records === null) w.appendUnsignedVarInt(0);
            else w.appendUnsignedVarInt(records.length + 1).append(Buffer.from(records));
            w.appendTaggedFields();
          },
          true,
          true,
        );
      },
      true,
      true,
    )
    .appendTaggedFields();
  const reader = Reader.from(w.buffer);
  reader.readInt32();
  reader.readTaggedFields();
  return () => {
    const r = Reader.from(w.buffer);
    r.readInt32();
    r.readTaggedFields();
    return r;
  };
}

Deno.test("the answer's parser: the client's fields, records kept as bytes", () => {
  const records = concat([
    batch(0, [{ value: event(0) }]),
    batch(1, [{ value: event(1) }], { compression: "gzip" }),
  ]);
  for (const [version, client] of [[12, fetchV12], [17, fetchV17]] as const) {
    const fresh = answer(version, records);
    const theirs = client.parseResponse(0, 1, version, fresh() as never);
    const ours = leanFetchParser(version)(0, 1, version, fresh()) as typeof theirs;
    const part = ours.responses[0].partitions[0];
    assert.ok((part.records as unknown) instanceof LeanRecords, `v${version}`);
    const lean = (part.records as unknown as LeanRecords).bytes;
    assert.deepEqual([...lean], [...records]);
    assert.deepEqual(
      { ...ours, responses: [{ ...ours.responses[0], partitions: [{ ...part, records: null }] }] },
      {
        ...theirs,
        responses: [{
          ...theirs.responses[0],
          partitions: [{ ...theirs.responses[0].partitions[0], records: null }],
        }],
      },
      `v${version}`,
    );
    // No records: null as the client's; aborted transactions: the client's batches.
    const none = answer(version, null);
    const empty = leanFetchParser(version)(0, 1, version, none()) as typeof theirs;
    assert.equal(empty.responses[0].partitions[0].records, null);
    const withAborted = answer(version, records, [[4242n, 0n]]);
    const mixed = leanFetchParser(version)(0, 1, version, withAborted()) as typeof theirs;
    assert.deepEqual(
      mixed.responses[0].partitions[0].records,
      client.parseResponse(0, 1, version, withAborted() as never).responses[0].partitions[0]
        .records,
    );
  }
});

Deno.test("an answer with an error code is the client's error", () => {
  const w = Writer.create().appendInt32(0).appendInt16(7).appendInt32(0).appendArray(
    [],
    () => {},
    true,
    true,
  )
    .appendTaggedFields();
  assert.throws(
    () => leanFetchParser(17)(0, 1, 17, Reader.from(w.buffer)),
    /Received response with error/,
  );
  assert.ok(enc.encode("x").length === 1);
});
