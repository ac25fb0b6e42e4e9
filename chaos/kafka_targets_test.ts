/**
 * Where the pipeline's components reach Kafka when the kafka proxy runs: each
 * its own ports (compose/kafka_proxy_routes.ts), the sandbox letting a graded
 * pipeline reach only the sink's and the detector's, never the harness's or
 * the generator's, so that `kafka_error`'s target cannot be dodged by
 * connecting elsewhere.
 */

import assert from "node:assert/strict";
import { portPlan } from "../compose/ports.ts";
import { KAFKA_PROXY_NODE, listenerBootstrap } from "../compose/kafka_proxy_control.ts";
import { pipelineEndpoints } from "./components.ts";

Deno.test("a sandboxed pipeline reaches only the sink's and the detector's kafka proxy ports", () => {
  const plan = portPlan(29000, 3);
  const harness = "127.0.0.1:29116,127.0.0.1:29126,127.0.0.1:29136";
  const stack = {
    plan,
    nodes: new Map([[KAFKA_PROXY_NODE, {}]]),
    endpoints: { kafka: { bootstrap: harness } },
  };
  const env = {
    KAFKA_BROKERS: listenerBootstrap(stack, "sink"),
    S3_ENDPOINT: "http://127.0.0.1:29012",
    REDIS_URL: "redis://127.0.0.1:29020",
    WEBHOOK_URL: "http://127.0.0.1:29040/alerts",
  };
  const endpoints = pipelineEndpoints(env, stack);
  const kafka = endpoints.filter((e) => /^127\.0\.0\.1:291[1-3]\d$/.test(e));
  // Per broker: the sink's (+7) and the detector's (+8).
  assert.deepEqual(kafka.sort(), [
    "127.0.0.1:29117",
    "127.0.0.1:29118",
    "127.0.0.1:29127",
    "127.0.0.1:29128",
    "127.0.0.1:29137",
    "127.0.0.1:29138",
  ]);
  for (
    const forbidden of [...harness.split(","), ...listenerBootstrap(stack, "generator").split(",")]
  ) {
    assert.equal(endpoints.includes(forbidden), false, forbidden);
  }
  // Without the proxy, everyone shares the stack's bootstrap (no kafka_error to dodge).
  const bare = { ...stack, nodes: new Map() };
  assert.equal(listenerBootstrap(bare, "sink"), harness);
  assert.deepEqual(
    pipelineEndpoints({ ...env, KAFKA_BROKERS: harness }, bare).filter((e) => e.includes(":291")),
    harness.split(","),
  );
});
