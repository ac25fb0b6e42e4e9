/**
 * The store check against a hostile store: objects that vanish between the
 * listing and their GET (a sink deleting decoys under the check), that fail
 * to be fetched, or that are listed larger than the check's cap, are
 * `corrupt_object` findings and the completeness check fails; the check never
 * throws on them (a throw would make the run unknown).
 */

import assert from "node:assert/strict";
import { memoryStore, syntheticRun, TOPIC } from "./_synthetic.ts";
import { checkCompleteness } from "./completeness.ts";
import { checkStore, MAX_STORED_OBJECT_BYTES } from "./store_check.ts";

function run() {
  return syntheticRun({ producers: 2, perProducer: 300, partitions: 2, batch: 50 });
}

Deno.test("checkStore: a listed object whose GET fails (gone, any error) is a finding", async () => {
  const r = run();
  const store = memoryStore(r.objects);
  const keys = [...r.objects.keys()].filter((k) => k.startsWith("events/"));
  const gone = keys[3];
  const broken = keys[4];
  const get = store.getBytes.bind(store);
  store.getBytes = (key: string) =>
    key === gone
      ? Promise.reject(new Error(`get memory/${key}: NoSuchKey`))
      : key === broken
      ? Promise.reject(new TypeError("error sending request: connection reset"))
      : get(key);
  const stored = await checkStore(store, TOPIC, r.table, { workers: 1 });
  assert.equal(stored.findings.counts.corrupt_object, 2);
  assert.ok(stored.findings.samples.corrupt_object.some((s) => s.includes("NoSuchKey")));
  const c = checkCompleteness(r.ledger, r.table, stored);
  assert.equal(c.verdict, "fail");
  assert.equal(c.corrupt_objects, 2);
});

Deno.test("checkStore: an object listed over the cap is a finding, never fetched", async () => {
  const r = run();
  const store = memoryStore(r.objects);
  const keys = [...r.objects.keys()].filter((k) => k.startsWith("events/"));
  const huge = keys[2];
  const list = store.list.bind(store);
  store.list = async (prefix: string) =>
    (await list(prefix)).map((o) =>
      o.name === huge ? { ...o, size: MAX_STORED_OBJECT_BYTES + 1 } : o
    );
  const fetched: string[] = [];
  const get = store.getBytes.bind(store);
  store.getBytes = (key: string) => (fetched.push(key), get(key));
  const stored = await checkStore(store, TOPIC, r.table, { workers: 1 });
  assert.ok(!fetched.includes(huge));
  assert.equal(stored.findings.counts.corrupt_object, 1);
  assert.match(stored.findings.samples.corrupt_object[0], /over 256 MiB/);
  assert.equal(checkCompleteness(r.ledger, r.table, stored).verdict, "fail");
  // Its range is still recorded (the durability check sees every listed batch).
  assert.equal(stored.ranges?.length, stored.objects.events + stored.objects.dlq);
});

Deno.test("checkStore: an object fetched larger than the cap is a finding", async () => {
  const r = run();
  const store = memoryStore(r.objects);
  const keys = [...r.objects.keys()].filter((k) => k.startsWith("events/"));
  const get = store.getBytes.bind(store);
  store.getBytes = (key: string) =>
    key === keys[1]
      ? Promise.resolve({ length: MAX_STORED_OBJECT_BYTES + 1 } as Uint8Array)
      : get(key);
  const stored = await checkStore(store, TOPIC, r.table, { workers: 1 });
  assert.equal(stored.findings.counts.corrupt_object, 1);
  assert.equal(checkCompleteness(r.ledger, r.table, stored).verdict, "fail");
});
