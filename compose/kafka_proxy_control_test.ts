import assert from "node:assert/strict";
import { portPlan } from "./ports.ts";
import {
  advertiseClientAt,
  KAFKA_PROXY_NODE,
  kafkaProxyControlUrl,
  kafkaProxySpec,
  kafkaProxyWanted,
} from "./kafka_proxy_control.ts";
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
  assert.deepEqual(routes, ["1:29116:29111", "2:29126:29121", "3:29136:29131"]);
  assert.deepEqual(parseRoutes(routes)[1], { broker: 2, listen: 29126, upstream: 29121 });
  const direct = kafkaProxySpec(plan, "/data", { direct: true });
  assert.ok(direct.args.includes("1:29116:29110"));
  assert.throws(() => parseRoutes(["1:29116"]), /broker:listen:upstream/);
});

Deno.test("kafkaProxyWanted(): asked, else CHAOS_KAFKA_PROXY=on", () => {
  assert.equal(kafkaProxyWanted(true, () => undefined), true);
  assert.equal(kafkaProxyWanted(false, () => "on"), false);
  assert.equal(kafkaProxyWanted(undefined, () => "on"), true);
  assert.equal(kafkaProxyWanted(undefined, () => "off"), false);
  assert.equal(kafkaProxyWanted(undefined, () => undefined), false);
});
