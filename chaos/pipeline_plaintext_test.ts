/**
 * The local stack's INTERNAL and CONTROLLER listeners stay PLAINTEXT and their principal,
 * ANONYMOUS, is a Kafka super user (compose/kafka_config.ts): safe only while a sandboxed pipeline
 * can reach none of them. What a box may reach is what `sandboxEndpoints` gives the sandbox's
 * iptables rules (compose/sandbox.ts), for the components `components()` builds: every Kafka
 * address in it must be a SCRAM (CLIENT) one, whatever the pipeline's shape.
 */

import assert from "node:assert/strict";
import { allPorts, portPlan } from "../compose/ports.ts";
import { KAFKA_PROXY_NODE, listenerBootstrap } from "../compose/kafka_proxy_control.ts";
import { clientAddresses } from "../compose/kafka_scram.ts";
import { Sandbox } from "../compose/sandbox.ts";
import { components, type OwnPipeline, sandboxEndpoints } from "./components.ts";
import { componentOptions, DETECTOR_ONLY, fakeStack } from "./_component_fixtures.ts";

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

function box(uid: number): Sandbox {
  const p = { hide: [], binds: [], stage: `/b/${uid}/stage`, cwd: "/srv/team", uid };
  return new Sandbox(uid, `/b/${uid}`, p, "/opt/deno:/usr/bin", "/opt/deno-dir");
}

/** The pipeline shapes a grading boxes: a box per component, one box for both, combined. */
function shapes(): OwnPipeline[] {
  const commands = { sink: "python3 sink.py", detector: "node detector.js", cwd: "/srv/team" };
  return [
    { ...commands, sandbox: box(61000), sandboxes: { sink: box(61001), detector: box(61002) } },
    { ...commands, sandbox: box(61003) },
    { combined: "./start.sh", cwd: "/srv/team", sandbox: box(61004) },
    { sink: "python3 sink.py", cwd: "/srv/team", sandbox: box(61005) },
  ];
}

Deno.test("a pipeline never reaches a PLAINTEXT listener (INTERNAL, CONTROLLER: ANONYMOUS is super)", () => {
  const plan = portPlan(29000, 3);
  const forbidden = plaintextPorts(plan);
  assert.equal(forbidden.size, 3 * 4 + 9);
  const client = new Set(clientAddresses(plan));
  const bootstraps = {
    "through toxiproxy": plan.brokers.map((b) => `127.0.0.1:${b.client.proxy}`).join(","),
    "direct": plan.brokers.map((b) => `127.0.0.1:${b.client.real}`).join(","),
  };
  let boxes = 0;
  for (const [what, bootstrap] of Object.entries(bootstraps)) {
    for (const proxy of [false, true]) {
      const stack = fakeStack({ kafka: { bootstrap } }, {
        plan,
        dataDir: "/tmp/x/stack",
        nodes: new Map(proxy ? [[KAFKA_PROXY_NODE, {}]] : []),
      });
      if (!proxy) assert.equal(listenerBootstrap(stack, "sink"), bootstrap, "no proxy: shared");
      for (const own of shapes()) {
        const nodes = components(DETECTOR_ONLY, { ...componentOptions(stack), own });
        for (const [b, reach] of sandboxEndpoints(nodes, own, stack)) {
          boxes++;
          const where = `${what}, kafka proxy ${proxy}, box ${b.uid}`;
          assert.deepEqual(reach.filter((e) => forbidden.has(e)), [], where);
          // Every Kafka address a box is given is one the harness knows as SCRAM (CLIENT).
          const kafka = reach.filter((e) => /^127\.0\.0\.1:291\d\d$/.test(e));
          assert.ok(kafka.length >= 3, where);
          assert.deepEqual(kafka.filter((e) => !client.has(e)), [], where);
        }
      }
    }
  }
  assert.equal(boxes, 4 * 5, "every shape's boxes were looked at");
  // clientAddresses() itself never lists a PLAINTEXT port, and only ports of the plan.
  const all = new Set(allPorts(plan).map((p) => `127.0.0.1:${p}`));
  for (const a of client) {
    assert.ok(!forbidden.has(a), a);
    assert.ok(all.has(a), a);
  }
});
