/**
 * The partition shapes' pure parts and their Toxiproxy work on a fake
 * Toxiproxy: which proxy and stream a one-way cut drops for each listener,
 * the bridge's halves and the proxies between them, that each toxic or
 * disabled proxy is checked as Toxiproxy reports it, that a failed inject
 * undoes what it did, and that the heal leaves every proxy enabled and clean.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { freezerUsable, membersOf } from "../../compose/freezer.ts";
import { ProcessNode } from "../../compose/process_node.ts";
import type { Proxy, Toxic } from "../../compose/toxiproxy.ts";
import { bridge, BridgeError, bridgeProxies, crossPairs, halves } from "./bridge.ts";
import { FREEZABLE, freeze } from "./freeze.ts";
import { FAULTS, stackProblems } from "./mod.ts";
import { oneWay, oneWayCuts } from "./one_way.ts";
import type { FaultContext } from "./types.ts";

/** An in-memory Toxiproxy with every proxy of a 3-broker stack; `failOn` refuses one toxic. */
function fakeToxiproxy(failOn?: string) {
  const proxies: Record<string, Proxy> = {};
  const names = [1, 2, 3].flatMap((i) => [
    ...["client", "internal", "controller"].map((l) => `kafka-${i}-${l}`),
    ...[1, 2, 3].map((j) => `kafka-${i}-to-${j}-controller`),
  ]);
  for (const name of names) {
    proxies[name] = { name, listen: "", upstream: "", enabled: true, toxics: [] };
  }
  const bounced: string[] = [];
  return {
    proxies: () => Promise.resolve(structuredClone(proxies)),
    addToxic(proxy: string, toxic: Toxic) {
      if (proxy === failOn) return Promise.reject(new Error(`refused on ${proxy}`));
      if (proxies[proxy].toxics!.some((t) => t.name === toxic.name)) {
        return Promise.reject(new Error(`toxic ${toxic.name} already exists on ${proxy}`));
      }
      proxies[proxy].toxics!.push(toxic);
      return Promise.resolve(toxic);
    },
    removeToxic(proxy: string, name: string) {
      proxies[proxy].toxics = proxies[proxy].toxics!.filter((t) => t.name !== name);
      return Promise.resolve();
    },
    setEnabled(proxy: string, enabled: boolean) {
      if (proxy === failOn) return Promise.reject(new Error(`refused on ${proxy}`));
      if (!enabled) bounced.push(proxy);
      proxies[proxy].enabled = enabled;
      return Promise.resolve(proxies[proxy]);
    },
    state: proxies,
    bounced,
  };
}

function ctxOf(tp: ReturnType<typeof fakeToxiproxy>): FaultContext {
  return {
    stack: { kind: "local", toxiproxy: tp, brokerIds: () => [1, 2, 3] },
  } as unknown as FaultContext;
}

const clean = (tp: ReturnType<typeof fakeToxiproxy>) =>
  Object.values(tp.state).every((p) => p.enabled && p.toxics!.length === 0);

Deno.test("one_way: what broker 2 sends is dropped, listener by listener", () => {
  assert.deepEqual(oneWayCuts(2, [1, 2, 3], ["client"], "sent"), [
    { proxy: "kafka-2-client", stream: "downstream" },
  ]);
  assert.deepEqual(oneWayCuts(2, [1, 2, 3], ["internal"], "received"), [
    { proxy: "kafka-2-internal", stream: "upstream" },
  ]);
  assert.deepEqual(oneWayCuts(2, [1, 2, 3], ["controller"], "sent"), [
    { proxy: "kafka-2-controller", stream: "downstream" },
    // Its requests to each controller, and its answers as one.
    { proxy: "kafka-2-to-1-controller", stream: "upstream" },
    { proxy: "kafka-1-to-2-controller", stream: "downstream" },
    { proxy: "kafka-2-to-3-controller", stream: "upstream" },
    { proxy: "kafka-3-to-2-controller", stream: "downstream" },
  ]);
  const deaf = oneWayCuts(2, [1, 2, 3], ["controller"], "received");
  assert.deepEqual(deaf[1], { proxy: "kafka-2-to-1-controller", stream: "downstream" });
  assert.deepEqual(deaf[2], { proxy: "kafka-1-to-2-controller", stream: "upstream" });
});

Deno.test("one_way: params, and both stacks", () => {
  assert.deepEqual(oneWay.params.parse({}), {
    drop: "sent",
    listeners: ["client", "internal", "controller"],
  });
  assert.throws(() => oneWay.params.parse({ drop: "both" }));
  assert.throws(() => oneWay.params.parse({ listeners: [] }));
  assert.equal(FAULTS.one_way, oneWay);
  assert.deepEqual(stackProblems([{ kind: "one_way", target: "broker:1" }], "docker"), []);
});

Deno.test("one_way: each toxic as Toxiproxy reports it; the heal reconnects and cleans", async () => {
  const tp = fakeToxiproxy();
  const params = oneWay.params.parse({ drop: "sent" });
  const injected = await oneWay.inject(ctxOf(tp), ["kafka-2"], params);
  const toxics = injected.observed.toxics as string[];
  assert.equal(toxics.length, 7);
  assert.ok(toxics.includes("kafka-2-client/downstream"));
  assert.ok(toxics.includes("kafka-2-to-3-controller/upstream"));
  const t = tp.state["kafka-2-client"].toxics![0];
  assert.equal(t.type, "timeout");
  assert.deepEqual(t.attributes, { timeout: 0 });
  const healed = await injected.heal();
  assert.equal((healed.reconnected as string[]).length, 7);
  assert.ok(clean(tp));
  assert.equal(tp.bounced.length, 7, "every cut proxy's connections closed");
});

Deno.test("one_way: two targets cut their link both ways, each stream once", async () => {
  const tp = fakeToxiproxy();
  const params = oneWay.params.parse({ listeners: ["controller"] });
  const injected = await oneWay.inject(ctxOf(tp), ["kafka-1", "kafka-2"], params);
  assert.deepEqual(
    tp.state["kafka-1-to-2-controller"].toxics!.map((t) => t.stream).sort(),
    ["downstream", "upstream"],
  );
  await injected.heal();
  assert.ok(clean(tp));
});

Deno.test("one_way: a refused toxic undoes the others and fails the inject", async () => {
  const tp = fakeToxiproxy("kafka-2-internal");
  await assert.rejects(
    () => oneWay.inject(ctxOf(tp), ["kafka-2"], oneWay.params.parse({})),
    /refused on kafka-2-internal/,
  );
  assert.equal(tp.state["kafka-2-client"].toxics!.length, 0);
});

Deno.test("bridge: halves around the bridge, and the links across them", () => {
  assert.deepEqual(halves([1, 2, 3], 2), [[1], [3]]);
  assert.deepEqual(halves([1, 2, 3], 1), [[2], [3]]);
  assert.deepEqual(halves([1, 2, 3, 4, 5], 3), [[1, 2], [4, 5]]);
  assert.deepEqual(halves([1, 2, 3, 4, 5], 3, [1, 5]), [[1, 5], [2, 4]]);
  assert.throws(() => halves([1, 2, 3], 2, [2]), BridgeError);
  assert.throws(() => halves([1, 2, 3], 2, [1, 3]), /two halves/);
  assert.throws(() => halves([1, 2], 1), /two halves/);
  assert.deepEqual(crossPairs([1, 2], [4]), [[1, 4], [2, 4]]);
  assert.deepEqual(bridgeProxies([1], [3]), ["kafka-1-to-3-controller", "kafka-3-to-1-controller"]);
  assert.match(
    stackProblems([{ kind: "bridge", target: "all-brokers" }], "local")[0],
    /one broker/,
  );
  assert.deepEqual(stackProblems([{ kind: "bridge", target: "broker:2" }], "local"), []);
});

Deno.test("bridge (local): the quorum links across disabled, said not to cut replication", async () => {
  const tp = fakeToxiproxy();
  const injected = await bridge.inject(ctxOf(tp), ["kafka-2"], bridge.params.parse({}));
  assert.deepEqual(injected.observed.halves, [[1], [3]]);
  assert.deepEqual(injected.observed.disabled, [
    "kafka-1-to-3-controller",
    "kafka-3-to-1-controller",
  ]);
  assert.match(String(injected.observed.not_cut), /replication/);
  assert.equal(tp.state["kafka-1-to-3-controller"].enabled, false);
  assert.equal(tp.state["kafka-1-to-2-controller"].enabled, true, "the bridge still talks");
  await injected.heal();
  assert.ok(clean(tp));
});

Deno.test("freeze: brokers with MinIO and Redis by default; params checked", () => {
  assert.deepEqual(freeze.params.parse({}), { services: [...FREEZABLE] });
  assert.deepEqual(freeze.params.parse({ services: [] }), { services: [] });
  assert.throws(() => freeze.params.parse({ services: ["sink"] }));
  assert.equal(FAULTS.freeze, freeze);
});

Deno.test({
  name: "freeze (local): two processes frozen in one cgroup at once, thawed, put back",
  ignore: !freezerUsable(),
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "freeze-" });
  const nodes = ["kafka-1", "minio"].map((name) =>
    new ProcessNode({
      name,
      cmd: "sleep",
      args: ["60"],
      logFile: join(dir, `${name}.log`),
      pidFile: join(dir, `${name}.pid`),
    })
  );
  const ctx = {
    stack: { kind: "local", node: (n: string) => nodes.find((x) => x.name === n)! },
    components: new Map(),
  } as unknown as FaultContext;
  try {
    for (const n of nodes) await n.start();
    const before = nodes.map((n) => Deno.readTextFileSync(`/proc/${n.pid()}/cgroup`));
    const injected = await freeze.inject(ctx, ["kafka-1"], { services: ["minio"] });
    assert.equal(injected.observed.state, "FROZEN");
    const frozen = injected.observed.frozen as Record<string, number[]>;
    assert.deepEqual(frozen["kafka-1"], [nodes[0].pid()]);
    assert.deepEqual(frozen.minio, [nodes[1].pid()]);
    const cgroup = String(injected.observed.cgroup);
    for (const n of nodes) {
      assert.ok(membersOf(cgroup).includes(n.pid()!), `${n.name} in ${cgroup}`);
    }
    const healed = await injected.heal();
    assert.equal(healed.state, "THAWED");
    assert.deepEqual(healed.running, ["kafka-1", "minio"]);
    assert.deepEqual(nodes.map((n) => Deno.readTextFileSync(`/proc/${n.pid()}/cgroup`)), before);
    assert.throws(() => Deno.statSync(cgroup), "the freezer cgroup is gone");
  } finally {
    for (const n of nodes) await n.kill().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
