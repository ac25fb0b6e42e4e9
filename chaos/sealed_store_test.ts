/**
 * The seal vouches for what the judge saw (run_context.ts): the sealed store is the judge's own
 * listing, cut to the run's prefixes; what the pipeline changes after the judge is recorded at
 * teardown and never becomes the sealed store. A teardown that throws is a reason, never a crash:
 * a judged fail stays fail, and the later steps (the heal, the stack) still run.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { Stack } from "../compose/stack.ts";
import { serveStore } from "../compose/store_server.ts";
import { slow } from "../compose/testing.ts";
import { objectStore } from "../pipeline/store.ts";
import type { Judged } from "../validate/recipe.ts";
import { storeChanges } from "../validate/seal.ts";
import type { ListedObject, StoreCheck } from "../validate/store_check.ts";
import { runResults } from "./outcome.ts";
import {
  endRun,
  judgedStore,
  type Judgement,
  openRun,
  type RunContext,
  runPrefixes,
} from "./run_context.ts";
import { validateScenario } from "./scenario.ts";

const LISTING: ListedObject[] = [
  { name: "events/t/partition=0/part-0-a.ndjson.gz", size: 10, etag: "e1" },
  { name: "dlq/t/partition=0/part-0-a.jsonl.gz", size: 3, etag: "d1" },
  { name: "events/t2/partition=0/part-0-a.ndjson.gz", size: 7, etag: "o1" }, // another topic
  { name: "events/stray.txt", size: 1, etag: null }, // foreign: the check fails it anyway
];

Deno.test("judgedStore: the judge's listing under the run's prefixes, as listed", () => {
  const sealed = judgedStore("b", runPrefixes("t"), LISTING);
  assert.deepEqual(sealed, {
    bucket: "b",
    prefixes: ["events/t/", "dlq/t/"],
    objects: [LISTING[0], LISTING[1]],
  });
  // What the pipeline does after the judge shows against it: repaired, added or removed.
  assert.deepEqual(
    storeChanges(sealed, [
      { name: LISTING[0].name, size: 12, etag: "e2" },
      { name: "events/t/partition=0/part-0-b.ndjson.gz", size: 5, etag: "e3" },
    ]),
    [
      `${LISTING[0].name} changed (size 10 → 12, ETag e1 → e2)`,
      `${LISTING[1].name} removed`,
      "events/t/partition=0/part-0-b.ndjson.gz added",
    ],
  );
  assert.deepEqual(storeChanges(sealed, [LISTING[1], LISTING[0]]), [], "an unchanged store");
});

/** A run of a test scenario, in `out`, with the test's own harness key. */
async function testRun(out: string): Promise<RunContext> {
  const scenario = validateScenario({
    name: "seal-test",
    seed: 1,
    description: "a run context for the test",
    workload: { eps: 10, duration: "1s" },
  });
  return await openRun(scenario, { seed: 1, kind: "local", outDir: out });
}

/** A judgement whose store check listed `listing`. */
function judgementOf(verdict: Judged["verdict"], listing: ListedObject[]): Judgement {
  const stored = { listing } as unknown as StoreCheck;
  return {
    judged: { verdict, reasons: verdict === "fail" ? ["lost 1"] : [] } as unknown as Judged,
    evidence: { stored, deliveries: [] } as unknown as Judgement["evidence"],
    audit: { records: 0, took_ms: 0 },
  };
}

/** Runs `fn` with CHAOS_KEY_FILE and the run-id claims in a temp folder, removed after. */
async function inTemp(fn: (out: string) => Promise<void>): Promise<void> {
  const out = await Deno.makeTempDir({ prefix: "sealed-store-" });
  const saved = ["CHAOS_KEY_FILE", "CHAOS_RUN_CLAIMS_DIR"].map((k) => [k, Deno.env.get(k)]);
  Deno.env.set("CHAOS_KEY_FILE", join(out, "harness.key"));
  Deno.env.set("CHAOS_RUN_CLAIMS_DIR", join(out, "claims"));
  try {
    await fn(out);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

Deno.test("endRun: a teardown step that throws is a reason; the heal still runs; a fail stays fail", async () => {
  await inTemp(async (out) => {
    for (const verdict of ["fail", "pass"] as const) {
      const run = await testRun(join(out, verdict));
      try {
        let healed = false;
        run.parts.judgement = judgementOf(verdict, []);
        run.parts.observation = { stop: () => Promise.reject(new Error("sampler stuck")) };
        run.parts.timeline = {
          healAll: () => Promise.resolve(void (healed = true)),
          records: () => [],
        };
        await endRun(run, {}); // never throws
        assert.ok(healed, "the heal ran after the observation failed");
        assert.ok(
          run.reasons.some((r) => /the teardown failed: observation: sampler stuck/.test(r)),
        );
        assert.ok(
          run.history.events.some((e) => e.type === "fail" && e.what === "teardown"),
          "recorded in the history",
        );
        // verdictOf: what the judge proved stands; a pass with a reason to doubt it is unknown.
        assert.equal(runResults(run).verdict, verdict === "fail" ? "fail" : "unknown");
      } finally {
        run.stopTolerating();
      }
    }
  });
});

Deno.test({
  name: "teardown: the seal keeps the judge's listing; changes after the judge are recorded",
  ...slow,
}, async () => {
  await inTemp(async (out) => {
    const server = await serveStore(join(out, "minio"));
    const run = await testRun(join(out, "runs"));
    try {
      const store = objectStore(server.s3);
      await store.client.makeBucket(store.bucket);
      const [events, dlq] = runPrefixes(run.names.topic);
      const put = (key: string, text: string) =>
        store.putBytes(key, new TextEncoder().encode(text), "application/gzip");
      await put(`${events}partition=0/a.ndjson.gz`, "judged");
      await put(`${dlq}partition=0/a.jsonl.gz`, "judged");
      // What the judge's store check listed.
      const listing = (await Promise.all([store.list("events/"), store.list("dlq/")])).flat()
        .map((o) => ({ name: o.name, size: o.size, etag: o.etag ?? null }));
      run.parts.judgement = judgementOf("fail", listing);
      // The sink "repairs" the store once judged: one object rewritten, one removed, one added.
      await put(`${events}partition=0/a.ndjson.gz`, "repaired!");
      await store.client.removeObject(store.bucket, `${dlq}partition=0/a.jsonl.gz`);
      await put(`${events}partition=0/b.ndjson.gz`, "late");
      let downs = 0;
      run.parts.stack = {
        kind: "local",
        endpoints: { s3: server.s3 },
        down: () => Promise.resolve(void downs++),
      } as unknown as Stack;
      await endRun(run, {});
      assert.equal(downs, 1, "the stack went");
      assert.deepEqual(run.reasons, []);
      assert.deepEqual(run.parts.sealedStore, judgedStore(store.bucket, [events, dlq], listing));
      const after = run.history.events.find((e) => e.what === "store-after-judge");
      const changes = (after?.value as { changes: string[] } | undefined)?.changes ?? [];
      assert.equal(changes.length, 3, JSON.stringify(after));
      assert.match(changes.join("\n"), /a\.ndjson\.gz changed/);
      assert.match(changes.join("\n"), /a\.jsonl\.gz removed/);
      assert.match(changes.join("\n"), /b\.ndjson\.gz added/);
      assert.equal(runResults(run).verdict, "fail");

      // A run never judged seals the store as it is once the pipeline stopped.
      const unjudged = await testRun(join(out, "runs"));
      try {
        unjudged.names = { ...unjudged.names, topic: run.names.topic };
        unjudged.parts.stack = run.parts.stack;
        await endRun(unjudged, {});
        const names = unjudged.parts.sealedStore?.objects.map((o) => o.name).sort();
        assert.deepEqual(names, [
          `${events}partition=0/a.ndjson.gz`,
          `${events}partition=0/b.ndjson.gz`,
        ]);
      } finally {
        unjudged.stopTolerating();
      }
    } finally {
      run.stopTolerating();
      await server.stop();
    }
  });
});
