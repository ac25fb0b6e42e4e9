/**
 * The local stack's INTERNAL and CONTROLLER listeners stay PLAINTEXT and their principal,
 * ANONYMOUS, is a Kafka super user (compose/kafka_config.ts): safe only while a sandboxed pipeline
 * can reach none of them. What it may reach is `pipelineEndpoints` (the sandbox's iptables rules by
 * uid, compose/sandbox.ts); every Kafka address in it must be a SCRAM (CLIENT) one.
 */

import assert from "node:assert/strict";
import { allPorts, portPlan } from "../compose/ports.ts";
import { KAFKA_PROXY_NODE, listenerBootstrap } from "../compose/kafka_proxy_control.ts";
import { clientAddresses } from "../compose/kafka_scram.ts";
import { pipelineEndpoints } from "./components.ts";

/** Every INTERNAL and CONTROLLER port of a plan (real and proxied) and the quorum links. */
function plaintextPorts(plan: ReturnType<typeof portPlan>): Set<string> {
  return new Set(
    plan.brokers.flatMap((b) => [
      b.internal.real,
      b.internal.proxy,
      b.controller.real,
      b.controller.proxy,
      ...Object.values(b.quorum),
    ]).map((p) => `127.0.0.1:${p}`),
  );
}

Deno.test("a pipeline never reaches a PLAINTEXT listener (INTERNAL, CONTROLLER: ANONYMOUS is super)", () => {
  const plan = portPlan(29000, 3);
  const forbidden = plaintextPorts(plan);
  assert.equal(forbidden.size, 3 * 4 + 9);
  const env = {
    S3_ENDPOINT: "http://127.0.0.1:29012",
    REDIS_URL: "redis://127.0.0.1:29020",
    WEBHOOK_URL: "http://127.0.0.1:29040/alerts",
  };
  const stacks = {
    "through toxiproxy": plan.brokers.map((b) => `127.0.0.1:${b.client.proxy}`).join(","),
    "direct": plan.brokers.map((b) => `127.0.0.1:${b.client.real}`).join(","),
  };
  for (const [what, bootstrap] of Object.entries(stacks)) {
    for (const proxy of [false, true]) {
      const stack = {
        plan,
        nodes: new Map(proxy ? [[KAFKA_PROXY_NODE, {}]] : []),
        endpoints: { kafka: { bootstrap } },
      };
      const reach = pipelineEndpoints(
        { ...env, KAFKA_BROKERS: listenerBootstrap(stack, "sink") },
        stack,
      );
      const leaks = reach.filter((e) => forbidden.has(e));
      assert.deepEqual(leaks, [], `${what}, kafka proxy ${proxy}`);
      // And every Kafka address it is given is one the harness knows as SCRAM (CLIENT).
      const kafka = reach.filter((e) => /^127\.0\.0\.1:291\d\d$/.test(e));
      const client = new Set(clientAddresses(plan));
      assert.deepEqual(kafka.filter((e) => !client.has(e)), [], `${what}, proxy ${proxy}`);
    }
  }
  // clientAddresses() itself never lists a PLAINTEXT port, and only ports of the plan.
  const all = new Set(allPorts(plan).map((p) => `127.0.0.1:${p}`));
  for (const a of clientAddresses(plan)) {
    assert.ok(!forbidden.has(a), a);
    assert.ok(all.has(a), a);
  }
});
