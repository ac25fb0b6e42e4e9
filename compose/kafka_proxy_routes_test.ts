import assert from "node:assert/strict";
import { KafkaProxy, type Route } from "./kafka_proxy.ts";
import type { KafkaProxyMode, ProxyListener } from "./kafka_proxy_mode.ts";
import {
  listenerPort,
  rewriteCoordinatorPort,
  rewriteMetadataPorts,
  routing,
} from "./kafka_proxy_routes.ts";
import { frame, FrameBuffer, responseCorrelationId, WireError } from "./kafka_wire.ts";
import { bytes, serveFakeBroker } from "./kafka_wire_testing.ts";

/** A Metadata v8 answer (correlation id `id`) naming brokers 1 and 2 at `ports`. */
function metadataAnswer(id: number, ports: [number, number]): Uint8Array {
  return bytes(
    ["i32", id],
    ["i32", 0], // throttle_time_ms
    ["i32", 2], // brokers
    ["i32", 1],
    ["str", "127.0.0.1"],
    ["i32", ports[0]],
    ["str", null],
    ["i32", 2],
    ["str", "127.0.0.1"],
    ["i32", ports[1]],
    ["str", "rack-b"],
    ["str", "cluster"],
    ["i32", 1], // controller_id
    ["i32", 0], // topics
    ["i32", 0], // cluster_authorized_operations
  );
}

/** A FindCoordinator v2 answer naming broker `node` at `port`. */
function coordinatorAnswer(id: number, node: number, port: number): Uint8Array {
  return bytes(
    ["i32", id],
    ["i32", 0],
    ["i16", 0],
    ["str", null],
    ["i32", node],
    ["str", "127.0.0.1"],
    ["i32", port],
  );
}

/** The broker ports a Metadata v8 answer names. */
function metadataPorts(f: Uint8Array): number[] {
  const view = new DataView(f.buffer, f.byteOffset);
  // id, throttle, count, node 1, host (2+9), port | rack null (2), node 2, host, port
  return [view.getInt32(4 + 4 + 4 + 4 + 11), view.getInt32(4 + 4 + 4 + 4 + 11 + 4 + 2 + 4 + 11)];
}

Deno.test("rewriteMetadataPorts() and rewriteCoordinatorPort() set each broker's port in place", () => {
  const meta = metadataAnswer(7, [29116, 29126]);
  const ports = (node: number) => ({ 1: 29117, 2: 29127 } as Record<number, number>)[node];
  assert.deepEqual(rewriteMetadataPorts(meta, 8, ports), { set: 2, unknown: [] });
  assert.deepEqual(metadataPorts(meta), [29117, 29127]);
  const partial = metadataAnswer(7, [29116, 29126]);
  assert.deepEqual(rewriteMetadataPorts(partial, 8, (n) => n === 1 ? 1 : undefined), {
    set: 1,
    unknown: [2],
  });
  assert.deepEqual(metadataPorts(partial), [1, 29126]);
  assert.throws(() => rewriteMetadataPorts(meta, 9, ports), WireError);
  assert.throws(() => rewriteMetadataPorts(meta.subarray(0, 20), 8, ports), WireError);
  const coordinator = coordinatorAnswer(3, 2, 29126);
  assert.deepEqual(rewriteCoordinatorPort(coordinator, 2, ports), { set: 1, unknown: [] });
  assert.equal(new DataView(coordinator.buffer).getInt32(coordinator.length - 4), 29127);
  // A failed lookup names no coordinator (node -1): nothing to set.
  const failed = coordinatorAnswer(3, -1, -1);
  assert.deepEqual(rewriteCoordinatorPort(failed, 2, ports), { set: 0, unknown: [] });
  assert.throws(() => rewriteCoordinatorPort(coordinator, 3, ports), WireError);
});

Deno.test("routing(): answers that name brokers are set, or refused above the caps", () => {
  assert.equal(routing(3, 8), "rewrite");
  assert.equal(routing(10, 2), "rewrite");
  assert.equal(routing(3, 12), "refuse");
  assert.equal(routing(10, 4), "refuse");
  assert.equal(routing(60, 0), "refuse"); // DescribeCluster
  assert.equal(routing(0, 9), "pass");
  // A sandboxed sink must not delete, truncate or re-partition the run's topic (the audit's
  // ground truth), move its leaders, or drop groups: the cluster has no authorizer.
  for (const key of [20, 21, 33, 37, 42, 43, 44, 45, 47, 55, 57]) {
    assert.equal(routing(key, 0), "refuse", `api ${key}`);
  }
  // What a consumer (kafkajs, librdkafka, the Java client) sends passes.
  for (const key of [1, 2, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 22, 23, 32, 36, 68, 71, 72]) {
    assert.notEqual(routing(key, 0), "refuse", `api ${key}`);
  }
  assert.equal(listenerPort(29116, "sink"), 29117);
  assert.equal(listenerPort(29116, "harness"), 29116);
});

/** A fake broker: Metadata v8 names brokers 1, 2 at their harness ports; FindCoordinator broker 2. */
function fakeBroker(harness: [number, number]) {
  const seen: string[] = []; // the client ids of the requests that reached it
  const broker = serveFakeBroker(async (f, conn) => {
    const view = new DataView(f.buffer, f.byteOffset);
    const key = view.getInt16(0);
    const id = view.getInt32(4);
    const idLength = view.getInt16(8);
    seen.push(new TextDecoder().decode(f.subarray(10, 10 + idLength)));
    const answer = key === 3
      ? metadataAnswer(id, harness)
      : key === 10
      ? coordinatorAnswer(id, 2, harness[1])
      : bytes(["i32", id], ["i16", 0]);
    await conn.write(frame(answer)).catch(() => {});
  });
  return { ...broker, harness, seen };
}

/** A request of `key`/`version` from a client that says it is `clientId`. */
function request(key: number, version: number, id: number, clientId: string): Uint8Array {
  const head = bytes(["i16", key], ["i16", version], ["i32", id], ["str", clientId]);
  const body = key === 0
    ? bytes(
      ["str", null],
      ["i16", -1],
      ["i32", 1000],
      ["i32", 1],
      ["str", "x"],
      ["i32", 1],
      ["i32", 3],
      ["i32", 1],
      ["i8", 1],
    )
    : key === 10
    ? bytes(["str", "group"], ["i8", 0])
    : bytes(["i32", 0], ["i8", 0], ["i8", 0], ["i8", 0]);
  return frame(new Uint8Array([...head, ...body]));
}

/** Sends one request on a new connection to `port`; its answer, or null when the proxy cut it. */
async function ask(port: number, f: Uint8Array): Promise<Uint8Array | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(f);
    const frames = new FrameBuffer();
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return null;
      const [answer] = frames.push(buf.subarray(0, n));
      if (answer) return answer;
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed by the proxy */ }
  }
}

async function withProxies(
  fn: (proxy: KafkaProxy, broker: ReturnType<typeof fakeBroker>) => Promise<void>,
) {
  // The ports the brokers advertise (the harness's): only named, never reached here.
  const broker = fakeBroker([29116, 29126]);
  const listeners: ProxyListener[] = ["harness", "generator", "sink", "detector"];
  const routes: Route[] = [1, 2].flatMap((b) =>
    listeners.map((listener) => ({
      broker: b,
      listen: 0,
      upstream: broker.port,
      listener,
    }))
  );
  const proxy = new KafkaProxy(routes, { log: () => {} });
  proxy.serve();
  try {
    await fn(proxy, broker);
  } finally {
    await proxy.close();
    broker.close();
  }
}

const sinkNotLeader: KafkaProxyMode = {
  mode: "error",
  brokers: [1, 2],
  apis: ["Produce"],
  code: "NOT_LEADER_OR_FOLLOWER",
  share: 1,
  targets: ["sink"],
};

/** The error code of a one-partition Produce v7 answer (topic "x"). */
const produceCode = (f: Uint8Array) =>
  new DataView(f.buffer, f.byteOffset).getInt16(4 + 4 + 3 + 4 + 4);

Deno.test("KafkaProxy targets the sink by its listener: a spoofed client id does not dodge", async () => {
  await withProxies(async (proxy, broker) => {
    proxy.setMode(sinkNotLeader);
    const sink = proxy.portOf("sink", 1)!;
    // The sink says it is the generator, a harness tool, or anything: it gets the fault.
    for (const spoof of ["generator-run-w0", "engine-run", "", "sink"]) {
      const answer = await ask(sink, request(0, 7, 1, spoof));
      assert.ok(answer, spoof);
      assert.equal(produceCode(answer), 6, `client id "${spoof}"`);
    }
    assert.deepEqual(broker.seen, []); // none reached the broker
    assert.deepEqual(proxy.counts[1].errors, { "Produce/NOT_LEADER_OR_FOLLOWER": 4 });
    // The generator and the harness, even calling themselves "sink", are not hit.
    for (const port of [proxy.portOf("generator", 1)!, proxy.portOf("harness", 1)!]) {
      const answer = await ask(port, request(0, 7, 2, "sink-1"));
      assert.deepEqual([...answer!], [0, 0, 0, 2, 0, 0]); // the broker's answer
    }
    assert.deepEqual(broker.seen, ["sink-1", "sink-1"]);
    assert.deepEqual(proxy.counts[1].listeners, { sink: 4, generator: 1, harness: 1 });
  });
});

Deno.test("KafkaProxy points a component's Metadata and coordinator at its own ports", async () => {
  await withProxies(async (proxy, broker) => {
    for (const l of ["sink", "detector", "generator"] as const) {
      const meta = await ask(proxy.portOf(l, 1)!, request(3, 8, 5, "anything"));
      assert.deepEqual(metadataPorts(meta!), [proxy.portOf(l, 1), proxy.portOf(l, 2)], l);
      const coordinator = await ask(proxy.portOf(l, 2)!, request(10, 2, 6, "x"));
      const view = new DataView(coordinator!.buffer, coordinator!.byteOffset);
      assert.equal(view.getInt32(coordinator!.length - 4), proxy.portOf(l, 2), l);
    }
    // The harness's listener gets the brokers' advertised ports, as the broker said.
    const meta = await ask(proxy.portOf("harness", 1)!, request(3, 8, 5, "admin"));
    assert.equal(responseCorrelationId(meta!), 5);
    assert.deepEqual(metadataPorts(meta!), broker.harness);
  });
});

Deno.test("KafkaProxy refuses, on a component's listener, answers it cannot point at its ports", async () => {
  await withProxies(async (proxy, broker) => {
    const sink = proxy.portOf("sink", 1)!;
    assert.equal(await ask(sink, request(3, 12, 1, "sink")), null); // Metadata v12: flexible
    assert.equal(await ask(sink, request(60, 0, 2, "sink")), null); // DescribeCluster
    assert.deepEqual(proxy.counts[1].refused, { Metadata: 1, DescribeCluster: 1 });
    assert.deepEqual(broker.seen, []);
    // The harness's listener passes them on.
    assert.ok(await ask(proxy.portOf("harness", 1)!, request(60, 0, 3, "admin")));
  });
});

Deno.test("KafkaProxy: a component cannot dodge a fault with a version above the caps", async () => {
  await withProxies(async (proxy, broker) => {
    proxy.setMode(sinkNotLeader);
    // Produce v9 (flexible): the proxy cannot encode its error answer; the sink's connection is
    // cut instead, and the fault counts it.
    assert.equal(await ask(proxy.portOf("sink", 1)!, request(0, 9, 1, "generator-run-w0")), null);
    assert.deepEqual(proxy.counts[1].errors, { "Produce/CONNECTION_CUT": 1 });
    assert.deepEqual(broker.seen, []);
    // The harness's listener (a mode without targets hits it) passes it on untouched, as before.
    proxy.setMode({ ...sinkNotLeader, targets: undefined });
    assert.ok(await ask(proxy.portOf("harness", 1)!, request(0, 9, 2, "admin")));
    assert.deepEqual(proxy.counts[1].untouched, { Produce: 1 });
  });
});
