import assert from "node:assert/strict";
import { allPorts, portPlan } from "./ports.ts";
import {
  advertiseClientAt,
  KAFKA_PROXY_NODE,
  kafkaProxyControlUrl,
  kafkaProxySpec,
  kafkaProxyWanted,
  listenerBootstrap,
} from "./kafka_proxy_control.ts";
import { PROXY_LISTENERS } from "./kafka_proxy_mode.ts";
import { parseRoutes } from "./kafka_proxy_main.ts";

Deno.test("advertiseClientAt() moves the CLIENT listener to the proxy, the others stay", () => {
  const text = "node.id=1\n" +
    "advertised.listeners=CLIENT://127.0.0.1:29111,INTERNAL://127.0.0.1:29113," +
    "CONTROLLER://127.0.0.1:29115\nlog.dirs=/d\n";
  assert.equal(
    advertiseClientAt(text, "127.0.0.1", 29116),
    "node.id=1\n" +
      "advertised.listeners=CLIENT://127.0.0.1:29116,INTERNAL://127.0.0.1:29113," +
      "CONTROLLER://127.0.0.1:29115\nlog.dirs=/d\n",
  );
  assert.throws(() => advertiseClientAt("node.id=1\n", "h", 1), /no CLIENT listener/);
});

Deno.test("kafkaProxySpec(): one process, each broker's port in front of its Toxiproxy port", () => {
  const plan = portPlan(29000, 3);
  assert.deepEqual(plan.brokers.map((b) => b.kafkaProxy), [29116, 29126, 29136]);
  assert.equal(kafkaProxyControlUrl(plan), "http://127.0.0.1:29106");
  const spec = kafkaProxySpec(plan, "/data");
  assert.equal(spec.name, KAFKA_PROXY_NODE);
  assert.equal(spec.pidFile, `/data/pids/${KAFKA_PROXY_NODE}.pid`);
  const routes = spec.args.filter((_, i) => spec.args[i - 1] === "--route");
  assert.deepEqual(routes.slice(0, 5), [
    "1:29116:29111",
    "1:29119:29111:generator",
    "1:29117:29111:sink",
    "1:29118:29111:detector",
    "2:29126:29121",
  ]);
  assert.equal(routes.length, 12);
  assert.deepEqual(parseRoutes(routes)[4], {
    broker: 2,
    listen: 29126,
    upstream: 29121,
    listener: "harness",
  });
  assert.equal(parseRoutes(routes)[2].listener, "sink");
  const direct = kafkaProxySpec(plan, "/data", { direct: true });
  assert.ok(direct.args.includes("1:29116:29110"));
  assert.throws(() => parseRoutes(["1:29116"]), /broker:listen:upstream/);
  assert.throws(() => parseRoutes(["1:29116:29111:admin"]), /harness\|generator\|sink\|detector/);
});

Deno.test("listenerBootstrap(): a component's own ports with the proxy, the stack's without", () => {
  const plan = portPlan(29000, 3);
  const endpoints = { kafka: { bootstrap: "127.0.0.1:29116,127.0.0.1:29126,127.0.0.1:29136" } };
  const withProxy = { plan, endpoints, nodes: new Map([[KAFKA_PROXY_NODE, {}]]) };
  assert.equal(
    listenerBootstrap(withProxy, "sink"),
    "127.0.0.1:29117,127.0.0.1:29127,127.0.0.1:29137",
  );
  assert.equal(listenerBootstrap(withProxy, "harness"), endpoints.kafka.bootstrap);
  assert.equal(
    listenerBootstrap({ plan, endpoints, nodes: new Map() }, "sink"),
    endpoints.kafka.bootstrap,
  );
  // No listener's ports collide with another broker's or another listener's.
  const all = PROXY_LISTENERS.flatMap((l) => listenerBootstrap(withProxy, l).split(","));
  assert.equal(new Set(all).size, all.length);
  assert.ok(all.every((a) => allPorts(plan).includes(Number(a.split(":")[1]))));
});

Deno.test("kafkaProxyWanted(): asked, else CHAOS_KAFKA_PROXY=on", () => {
  assert.equal(kafkaProxyWanted(true, () => undefined), true);
  assert.equal(kafkaProxyWanted(false, () => "on"), false);
  assert.equal(kafkaProxyWanted(undefined, () => "on"), true);
  assert.equal(kafkaProxyWanted(undefined, () => "off"), false);
  assert.equal(kafkaProxyWanted(undefined, () => undefined), false);
});
