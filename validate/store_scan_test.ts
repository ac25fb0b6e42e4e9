/**
 * The store scan against a real MinIO (over a temporary data dir): the worker
 * path and the single-thread path find the same seqs, duplicates and
 * unreadable lines, with a producer's seqs scattered over objects.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import { serveStore } from "../compose/store_server.ts";
import { slow } from "../compose/testing.ts";
import { batchKey } from "../pipeline/batcher.ts";
import { objectStore } from "../pipeline/store.ts";
import {
  eventIdentity,
  gatherObject,
  mergeSorted,
  rangesOf,
  scanStore,
  Seqs,
} from "./store_scan.ts";

Deno.test("eventIdentity: the fast path and the fallback agree", () => {
  assert.deepEqual(eventIdentity('{"producer_id":"r-w1","seq":42,"ts_ms":1}'), {
    producer_id: "r-w1",
    seq: 42,
  });
  assert.deepEqual(eventIdentity('{"ts_ms":1,"seq":7,"producer_id":"r-w2"}'), {
    producer_id: "r-w2",
    seq: 7,
  });
  assert.deepEqual(eventIdentity('{"producer_id":"r-w1","seq":"x"}'), { producer_id: "r-w1" });
  assert.deepEqual(eventIdentity("{truncated"), {});
});

Deno.test("gatherObject: ids that are prefixes of each other, escapes and odd lines", () => {
  const lines = [
    '{"producer_id":"w1","seq":1,"ts_ms":0}',
    '{"producer_id":"w10","seq":2,"ts_ms":0}',
    '{"producer_id":"w1","seq":3}',
    '{"producer_id":"w10","seq":4,"ts_ms":0}',
    '{"producer_id":"w\\"1","seq":5,"ts_ms":0}', // an escaped quote in an id: unreadable
    '{"producer_id":"w1","seq":-6,"ts_ms":0}', // not a seq
    '{"ts_ms":0,"producer_id":"w10","seq":7}', // another key order
    '{"producer_id":"w1","seq":8',
    "",
  ];
  const gathered = new Map<string, Seqs>();
  const bad = gatherObject("events", gzipSync(Buffer.from(lines.join("\n"))), gathered);
  const seqs = (id: string) => [...(gathered.get(id)?.sorted() ?? [])];
  assert.deepEqual([...gathered.keys()], ["w1", "w10"]);
  assert.deepEqual(seqs("w1"), [1, 3]);
  assert.deepEqual(seqs("w10"), [2, 4, 7]);
  assert.equal(bad, 3); // the escaped id, the negative seq, the cut line
});

Deno.test({ name: "scanStore: workers and one thread find the same things", ...slow }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "scan-test-" });
  const server = await serveStore(dir);
  try {
    const store = objectStore(server.s3);
    await store.client.makeBucket(store.bucket);
    // 24 objects over 3 partitions; producer a's seqs 0..2399 scattered round-robin, seq 77
    // stored twice, seq 1000 missing; one unreadable line per object.
    const lines: string[][] = Array.from({ length: 24 }, () => []);
    for (let seq = 0; seq < 2400; seq++) {
      if (seq === 1000) continue;
      lines[seq % 24].push(`{"producer_id":"a","seq":${seq},"ts_ms":0}`);
      if (seq % 3 === 0) lines[(seq * 7) % 24].push(`{"producer_id":"b","seq":${seq / 3}}`);
    }
    lines[5].push('{"producer_id":"a","seq":77,"ts_ms":0}');
    for (const [i, obj] of lines.entries()) {
      obj.push("{not json");
      const p = i % 3;
      await store.putBytes(
        batchKey("events", "t", p, i * 1000, i * 1000 + obj.length - 1),
        gzipSync(Buffer.from(obj.join("\n") + "\n")),
        "application/x-ndjson",
        { "Content-Encoding": "gzip" }, // as the sink stores them: read back as stored
      );
    }
    const one = await scanStore(store, "t", { workers: 1 });
    const two = await scanStore(store, "t", { workers: 2 });
    for (const scan of [one, two]) {
      assert.equal(scan.objects.events, 24);
      assert.equal(scan.unreadable, 24);
      const a = scan.events.get("a")!;
      assert.equal(a.seqs.size, 2399);
      assert.ok(!a.seqs.has(1000));
      assert.deepEqual([...a.duplicates], [[77, 1]]);
      assert.equal(scan.events.get("b")!.seqs.size, 800);
    }
    assert.deepEqual(two.events.get("a")!.seqs.ranges(), one.events.get("a")!.seqs.ranges());
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("mergeSorted + rangesOf: runs from two workers, a seq stored twice across them", () => {
  const merged = mergeSorted([
    Float64Array.from([0, 1, 2, 7, 9]),
    Float64Array.from([3, 4, 7, 10]),
  ]);
  assert.deepEqual([...merged], [0, 1, 2, 3, 4, 7, 7, 9, 10]);
  const found = rangesOf(merged);
  assert.deepEqual(found.seqs.ranges(), [[0, 4], [7, 7], [9, 10]]);
  assert.deepEqual([...found.duplicates], [[7, 1]]);
  assert.equal(rangesOf(mergeSorted([])).seqs.size, 0);
});
