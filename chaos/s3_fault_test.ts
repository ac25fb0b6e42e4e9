/**
 * The `s3_fault` fault: its params (each mode's own, refused where they do
 * not apply), its target and stacks, waiting for its evidence, and one short
 * real run of the sink under a 503 SlowDown and then lost answers to stored
 * PUTs through the local stack's S3 proxy: nothing lost, no duplicate, the
 * proxy's counts as evidence, healed, and the proxy gone afterwards. The
 * proxy itself is tested in compose/s3_proxy_test.ts; the catalog scenario
 * (sink-s3-faults, every mode in turn) is the nightly's.
 */

import assert from "node:assert/strict";
import { shortRun } from "./short_run_testing.ts";
import { processesWith, slow } from "../compose/testing.ts";
import {
  NO_COUNTS,
  S3ProxyControl,
  type S3ProxyCounts,
  s3ProxyEndpoints,
  s3ProxyWanted,
} from "../compose/s3_proxy.ts";
import { portPlan } from "../compose/ports.ts";
import type { Stack } from "../compose/stack.ts";
import { contractEndpoints, contractEnv } from "./components.ts";
import { componentOptions, DETECTOR_ONLY, fakeStack } from "./_component_fixtures.ts";
import { portFree } from "../lib/wait.ts";
import { s3Fault, s3TargetProblem, storeEvidence, waitForEffect } from "./faults/s3_fault.ts";
import { serveS3Proxy } from "../compose/s3_proxy_server.ts";
import { externalProblems, FAULTS, stackProblems } from "./faults/mod.ts";

Deno.test("s3_fault: params are checked by its schema, each mode its own", () => {
  assert.deepEqual(s3Fault.params.parse({ mode: "slowdown" }), {
    mode: "slowdown",
    share: 1,
    methods: ["PUT", "POST"],
  });
  assert.deepEqual(
    s3Fault.params.parse({ mode: "stall", stall_ms: 3000, share: 0.5, methods: ["PUT"] }),
    { mode: "stall", stall_ms: 3000, share: 0.5, methods: ["PUT"] },
  );
  // Reads, HEADs and deletes are no store writes: a fault on them proves nothing.
  for (const m of ["GET", "HEAD", "DELETE"]) {
    assert.throws(() => s3Fault.params.parse({ mode: "reset", methods: [m] }), /methods/, m);
  }
  assert.throws(() => s3Fault.params.parse({}), /mode/);
  assert.throws(() => s3Fault.params.parse({ mode: "teapot" }), /mode/);
  assert.throws(() => s3Fault.params.parse({ mode: "stall" }), /mode stall needs stall_ms/);
  assert.throws(
    () => s3Fault.params.parse({ mode: "lost_answer", stall_ms: 100 }),
    /applies to mode stall only, not lost_answer/,
  );
  assert.throws(() => s3Fault.params.parse({ mode: "reset", share: 0 }), /more than 0/);
  assert.throws(() => s3Fault.params.parse({ mode: "reset", share: 1.5 }));
  assert.throws(() => s3Fault.params.parse({ mode: "reset", methods: [] }));
  assert.throws(() => s3Fault.params.parse({ mode: "reset", methods: ["PATCH"] }));
  assert.throws(() => s3Fault.params.parse({ mode: "reset", toxicity: 1 }), /toxicity/);
  assert.throws(() => s3Fault.params.parse({ mode: "stall", stall_ms: 600_001 }));
  // The scenario loader reads the keys it declares.
  assert.deepEqual(Object.keys(s3Fault.params.shape), ["mode", "share", "methods", "stall_ms"]);
});

Deno.test("s3_fault: minio on the local and docker stacks", () => {
  assert.equal(FAULTS.s3_fault, s3Fault);
  assert.equal(s3TargetProblem("minio"), undefined);
  assert.match(s3TargetProblem("redis")!, /acts on minio \(its S3 API\), not redis/);
  assert.deepEqual(s3Fault.stacks, ["local", "docker"]);
  assert.deepEqual(stackProblems([{ kind: "s3_fault", target: "minio" }], "local"), []);
  assert.deepEqual(stackProblems([{ kind: "s3_fault", target: "minio" }], "docker"), []);
  assert.match(stackProblems([{ kind: "s3_fault", target: "redis" }], "docker")[0], /not redis/);
  assert.match(stackProblems([{ kind: "s3_fault", target: "redis" }], "local")[0], /not redis/);
  assert.match(
    externalProblems([{ kind: "s3_fault", target: "minio" }], {
      brokers: [1],
      nodes: {},
      toxiproxy: false,
    })[0],
    /s3_fault cannot act on an external stack/,
  );
});

Deno.test("s3_fault: the pipeline reaches MinIO through the stack's S3 proxy", () => {
  const s3 = { endpoint: "http://127.0.0.1:29010", accessKey: "a", secretKey: "s", bucket: "b" };
  const stack = fakeStack({ s3 });
  const options = componentOptions(stack);
  const scenario = DETECTOR_ONLY;
  assert.equal(contractEnv(scenario, options).S3_ENDPOINT, s3.endpoint); // no proxy: MinIO
  const proxied = { ...stack, s3Proxy: s3ProxyEndpoints(portPlan(29000, 3)) } as Stack;
  const env = contractEnv(scenario, { ...options, stack: proxied });
  assert.equal(env.S3_ENDPOINT, "http://127.0.0.1:29012");
  assert.ok(contractEndpoints(env).includes("http://127.0.0.1:29012"), "a sandbox may reach it");
  assert.equal(s3ProxyEndpoints(portPlan(29000, 3)).control, "http://127.0.0.1:29013");
  assert.equal(s3ProxyWanted(() => undefined), true);
  assert.equal(s3ProxyWanted(() => "off"), false);
});

Deno.test("s3_fault: its evidence is the proxy's count of its effect", async () => {
  const before: S3ProxyCounts = { ...NO_COUNTS, seen: 10, slowdown: 2 };
  let reads = 0;
  const rising = () => {
    reads++;
    return Promise.resolve({ ...before, seen: 10 + reads, slowdown: reads >= 3 ? 4 : 2 });
  };
  const since = await waitForEffect(rising, before, "slowdown", 5000);
  assert.equal(since.slowdown, 2);
  assert.equal(reads, 3);
  // Nothing counted within the wait: the counts say so (the fault then had no effect).
  const none = await waitForEffect(() => Promise.resolve(before), before, "lost_answer", 300);
  assert.deepEqual(none, NO_COUNTS);
});

Deno.test("s3_fault: a fault that met only decoys has no evidence; real writes are counted", async () => {
  const minio = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
    await r.arrayBuffer();
    return new Response(null, { status: 200 });
  });
  const proxy = serveS3Proxy({ listen: 0, control: 0, upstream: minio.addr.port });
  const control = new S3ProxyControl(`http://127.0.0.1:${proxy.controlPort}`);
  const key = "events/t/partition=0/part-0-00000000000000000000-00000000000000000009.ndjson.gz";
  const put = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${proxy.port}${path}`, { method: "PUT", body: "x" });
    await r.body?.cancel();
    return r.status;
  };
  try {
    const before = (await control.state()).counts;
    await control.set({
      mode: "slowdown",
      share: 1,
      methods: ["PUT", "POST"],
      store: {
        bucket: "b",
        topic: "t",
      },
    });
    // A sink that spends the fault on junk: another bucket, junk keys, another topic, tiny keys.
    for (
      const path of [`/x/${key}`, "/b/junk", "/b/events/t/x", `/b/${key.replace("/t/", "/d/")}`]
    ) {
      assert.equal(await put(path), 200, path);
    }
    const none = await waitForEffect(
      async () => (await control.state()).counts,
      before,
      "slowdown",
      300,
    );
    assert.deepEqual(storeEvidence(none, "slowdown"), { store_writes_faulted: 0, keys_faulted: 0 });
    assert.equal(none.seen, 4); // seen, and not one of them a store write: no effect, unknown
    assert.equal(none.store_writes, 0);
    assert.equal(await put(`/b/${key}`), 503);
    assert.equal(await put(`/b/${key}`), 503); // its retry: one key
    const some = await waitForEffect(
      async () => (await control.state()).counts,
      before,
      "slowdown",
      300,
    );
    assert.deepEqual(storeEvidence(some, "slowdown"), { store_writes_faulted: 2, keys_faulted: 1 });
  } finally {
    await proxy.close();
    await minio.shutdown();
  }
});

Deno.test({
  name: "s3_fault: SlowDown, then lost answers to stored PUTs: stored exactly once, healed",
  ...slow,
}, async () => {
  const out = await Deno.makeTempDir({ prefix: "s3-fault-" });
  const base = Number(Deno.env.get("CHAOS_RUN_BASE_PORT") ?? 29600);
  try {
    const name = "sink-s3-faults";
    const faults = [
      {
        at: "8s",
        kind: "s3_fault",
        target: "minio",
        params: { mode: "slowdown" },
        heal_after: "8s",
      },
      {
        at: "20s",
        kind: "s3_fault",
        target: "minio",
        params: { mode: "lost_answer" },
        heal_after: "8s",
      },
    ];
    const { res, results, explain } = await shortRun(name, out, {
      "workload.eps": "2000",
      "workload.duration": "35s",
      "workload.incidents.0.at": "5s",
      "workload.incidents.0.duration": "10s",
      faults,
    });
    assert.equal(results.completeness?.lost, 0, explain);
    assert.equal(results.completeness?.duplicates, 0, explain);
    const s3 = results.faults.filter((f) => f.kind === "s3_fault");
    assert.equal(s3.length, 2, explain);
    for (const [i, count] of [[0, "slowdown"], [1, "lost_answer"]] as const) {
      const seen = JSON.stringify(s3[i].detail);
      assert.ok(s3[i].observed, `${count} not observed\n${seen}\n${explain}`);
      assert.match(seen, new RegExp(`"counted":\\{[^}]*"${count}":[1-9]`), seen);
      assert.match(seen, /"cleared":true/, seen);
      // The evidence counts real writes of the run's batch keys, nothing else.
      assert.match(seen, /"store_writes_faulted":[1-9]/, seen);
      assert.match(seen, /"keys_faulted":[1-9]/, seen);
      assert.ok(s3[i].healed_at !== null, seen);
    }
    assert.equal(res.code, 0, explain);
    // The proxy went with the stack.
    assert.deepEqual(processesWith(`s3_proxy_server.ts --listen ${base + 12} `), []);
    assert.ok(portFree(base + 12) && portFree(base + 13), "the proxy's ports are free");
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});
