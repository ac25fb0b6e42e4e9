import assert from "node:assert/strict";
import {
  hostProxyPorts,
  hostProxySpecs,
  proxiedBootstrap,
  startHostProxies,
} from "./docker_proxies.ts";
import { DockerError } from "./docker.ts";
import { KafkaProxy } from "./kafka_proxy.ts";
import {
  KAFKA_PROXY_NODE,
  kafkaProxySpec,
  listenerBootstrap,
  runsKafkaProxy,
} from "./kafka_proxy_control.ts";
import { parseRoutes } from "./kafka_proxy_main.ts";
import { frame, FrameBuffer, responseCorrelationId } from "./kafka_wire.ts";
import { bytes } from "./kafka_wire_testing.ts";
import { allPorts, portPlan } from "./ports.ts";
import { S3_PROXY_NODE, s3ProxySpec } from "./s3_proxy.ts";
import { serveS3Proxy, upstreamHostFlag } from "./s3_proxy_server.ts";

const plan = portPlan(24000, 3);
const flagOf = (args: string[], name: string) => args[args.indexOf(name) + 1];

Deno.test("docker proxies: the S3 proxy's upstream is MinIO's container, allowed by name", () => {
  assert.deepEqual(hostProxySpecs(plan, "/d", {}), []);
  const [s3] = hostProxySpecs(plan, "/d", { s3: "10.231.7.4" });
  assert.equal(s3.name, S3_PROXY_NODE);
  assert.ok(s3.args.includes("--allow-net=127.0.0.1,10.231.7.4"), s3.args.join(" "));
  assert.equal(flagOf(s3.args, "--upstream-host"), "10.231.7.4");
  assert.equal(flagOf(s3.args, "--listen"), String(plan.s3Proxy));
  assert.equal(flagOf(s3.args, "--upstream"), String(plan.minio));
  assert.equal(s3.pidFile, "/d/pids/s3proxy.pid"); // the stack's watchdog kills it
  // The local stack's is as it was: loopback only, no upstream host.
  const local = s3ProxySpec(plan, "/d");
  assert.ok(local.args.includes("--allow-net=127.0.0.1"));
  assert.ok(!local.args.includes("--upstream-host"));
});

Deno.test("docker proxies: the kafka proxy sits before Toxiproxy's client ports", () => {
  const specs = hostProxySpecs(plan, "/d", { s3: "10.0.0.2", kafka: "10.0.0.3" });
  assert.deepEqual(specs.map((s) => s.name), [S3_PROXY_NODE, KAFKA_PROXY_NODE]);
  const kafka = specs[1];
  assert.ok(kafka.args.includes("--allow-net=127.0.0.1,10.0.0.3"), kafka.args.join(" "));
  assert.equal(flagOf(kafka.args, "--upstream-host"), "10.0.0.3");
  const routes = parseRoutes(kafka.args.filter((_, i) => kafka.args[i - 1] === "--route"));
  assert.equal(routes.length, 12); // 3 brokers x (harness, sink, detector, generator)
  for (const r of routes) {
    const b = plan.brokers[r.broker - 1];
    assert.equal(r.upstream, b.client.proxy, "the chain: kafka proxy, then Toxiproxy");
    assert.ok(r.listen >= b.kafkaProxy && r.listen <= b.kafkaProxy + 3);
  }
  // The local stack's proxy is unchanged.
  const local = kafkaProxySpec(plan, "/d");
  assert.ok(local.args.includes("--allow-net=127.0.0.1"));
  assert.ok(!local.args.includes("--upstream-host"));
});

Deno.test("docker proxies: their host ports are the plan's, the bootstrap the harness's", () => {
  assert.deepEqual(hostProxyPorts(plan, []), []);
  assert.deepEqual(hostProxyPorts(plan, [S3_PROXY_NODE]), [24012, 24013]);
  const kafka = hostProxyPorts(plan, [KAFKA_PROXY_NODE]);
  assert.equal(kafka.length, 1 + 3 * 4);
  assert.ok(kafka.includes(24106) && kafka.includes(24116) && kafka.includes(24139));
  const all = new Set(allPorts(plan));
  assert.ok(kafka.every((p) => all.has(p)), "inside the stack's own range");
  assert.equal(proxiedBootstrap(plan), "127.0.0.1:24116,127.0.0.1:24126,127.0.0.1:24136");
});

Deno.test("docker proxies: a component gets its own ports when the host runs the proxy", () => {
  const endpoints = { kafka: { bootstrap: "10.0.0.3:24111" } };
  const none = { plan, nodes: new Map(), hostNodes: new Map(), endpoints };
  assert.equal(runsKafkaProxy(none), false);
  assert.equal(listenerBootstrap(none, "sink"), "10.0.0.3:24111");
  const docker = { ...none, hostNodes: new Map([[KAFKA_PROXY_NODE, {}]]) };
  assert.equal(runsKafkaProxy(docker), true);
  assert.equal(
    listenerBootstrap(docker, "sink"),
    "127.0.0.1:24117,127.0.0.1:24127,127.0.0.1:24137",
  );
  const local = { plan, nodes: new Map([[KAFKA_PROXY_NODE, {}]]), endpoints };
  assert.equal(runsKafkaProxy(local), true);
});

Deno.test("docker proxies: a busy host port is refused before anything starts", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const busy = portPlan(held.addr.port - 12, 1); // its s3Proxy port is the held one
    const specs = hostProxySpecs(busy, "/nonexistent", { s3: "10.0.0.2" });
    await assert.rejects(
      () => startHostProxies(busy, specs),
      (e: Error) =>
        e instanceof DockerError && e.message.includes(String(held.addr.port)) &&
        /in use/.test(e.message),
    );
  } finally {
    held.close();
  }
});

Deno.test("s3 proxy: --upstream-host is a host or an address, else refused", () => {
  assert.equal(upstreamHostFlag(["--listen", "1"]), "127.0.0.1");
  assert.equal(upstreamHostFlag(["--upstream-host", "10.231.7.4"]), "10.231.7.4");
  assert.equal(upstreamHostFlag(["--upstream-host", "minio.local"]), "minio.local");
  assert.equal(upstreamHostFlag(["--upstream-host"]), undefined);
  assert.equal(upstreamHostFlag(["--upstream-host", "a b"]), undefined);
  assert.equal(upstreamHostFlag(["--upstream-host", "x;rm"]), undefined);
});

Deno.test("s3 proxy: forwards to MinIO on another host than its own", async () => {
  const upstream = Deno.serve(
    { hostname: "127.0.0.2", port: 0, onListen: () => {} },
    (req) => new Response(`stored ${new URL(req.url).pathname}`),
  );
  const proxy = serveS3Proxy({
    listen: 0,
    upstream: upstream.addr.port,
    upstreamHost: "127.0.0.2",
    control: 0,
  });
  try {
    const res = await fetch(`http://127.0.0.1:${proxy.port}/telemetry/k`, {
      method: "PUT",
      body: "x",
    });
    assert.equal(await res.text(), "stored /telemetry/k");
    assert.equal(proxy.state().counts.seen, 1);
  } finally {
    await proxy.close();
    await upstream.shutdown();
  }
});

Deno.test("KafkaProxy: listens on its host, forwards to the upstream host", async () => {
  // A fake broker on 127.0.0.2 only: the proxy can reach it only through upstreamHost.
  const listener = Deno.listen({ hostname: "127.0.0.2", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      const frames = new FrameBuffer();
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        for (const f of frames.push(buf.subarray(0, n))) {
          const id = new DataView(f.buffer, f.byteOffset).getInt32(4);
          await conn.write(frame(new Uint8Array([...bytes(["i32", id]), 0xab])));
        }
      }
    }
  })().catch(() => {});
  const proxy = new KafkaProxy([{ broker: 1, listen: 0, upstream: listener.addr.port }], {
    upstreamHost: "127.0.0.2",
    log: () => {},
  });
  proxy.serve();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.bound.get(1)! });
  try {
    // A CreateTopics v0 request (passed through untouched on the harness's listener).
    await conn.write(frame(bytes(["i16", 19], ["i16", 0], ["i32", 77], ["str", "t"])));
    const frames = new FrameBuffer();
    const buf = new Uint8Array(4096);
    let got: Uint8Array[] = [];
    while (got.length === 0) {
      const n = await conn.read(buf);
      assert.ok(n !== null, "the proxy closed the connection");
      got = frames.push(buf.subarray(0, n));
    }
    assert.equal(responseCorrelationId(got[0]), 77);
    assert.equal(proxy.counts[1].connections, 1);
  } finally {
    conn.close();
    await proxy.close();
    listener.close();
    for (const c of conns) c.close();
  }
});
