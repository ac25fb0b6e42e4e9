/**
 * The store check against a real MinIO (over a temporary data dir): the
 * worker path and the single-thread path find the same records and the same
 * problems, on a store with a tampered object among 60.
 */

import assert from "node:assert/strict";
import { serveStore } from "../compose/store_server.ts";
import { slow } from "../compose/testing.ts";
import { objectStore } from "../pipeline/store.ts";
import { gz, linesOf, syntheticRun, TOPIC } from "./_synthetic.ts";
import { checkStore } from "./store_check.ts";

Deno.test(
  { name: "checkStore: workers and one thread find the same things", ...slow },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "store-check-" });
    const server = await serveStore(dir);
    try {
      const store = objectStore(server.s3);
      await store.client.makeBucket(store.bucket);
      const run = syntheticRun({
        producers: 4,
        perProducer: 1500,
        partitions: 3,
        batch: 100,
        malformedEvery: 41,
      });
      const keys = [...run.objects.keys()].filter((k) => k.startsWith("events/"));
      const lines = linesOf(run.objects.get(keys[5])!);
      run.objects.set(keys[5], gz([...lines.slice(1), lines[0], lines[0], "{broken"]));
      for (const [key, bytes] of run.objects) {
        await store.putBytes(key, bytes, "application/gzip");
      }
      const one = await checkStore(store, TOPIC, run.table, { workers: 1 });
      const two = await checkStore(store, TOPIC, run.table, { workers: 2 });
      assert.ok(one.objects.events + one.objects.dlq >= 60);
      assert.deepEqual(two.objects, one.objects);
      assert.deepEqual(two.findings.counts, one.findings.counts);
      assert.equal(one.findings.counts.unreadable, 1);
      assert.deepEqual([...two.inEvents], [...one.inEvents]);
      assert.deepEqual([...two.inDlq], [...one.inDlq]);
      assert.equal([...one.inEvents].filter((n) => n === 2).length, 1);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
