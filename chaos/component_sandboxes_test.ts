/**
 * A graded pipeline's sink and detector in a sandbox each (compose/sandbox.ts): each component's
 * command runs as its own box's uid, each box reaches only its component's Kafka ports (plus
 * MinIO, Redis and the webhook, which the contract gives to both), and `kafka_error` tells them
 * apart. A combined pipeline, or one box for both, cannot be told apart: the fault hits both.
 */

import assert from "node:assert/strict";
import { portPlan } from "../compose/ports.ts";
import { KAFKA_PROXY_NODE, listenerBootstrap } from "../compose/kafka_proxy_control.ts";
import { Sandbox, wrappedUid } from "../compose/sandbox.ts";
import type { StackNode } from "../compose/stack.ts";
import {
  components,
  oomCounts,
  oomFailure,
  type OwnPipeline,
  sandboxEndpoints,
  sandboxOf,
} from "./components.ts";
import { listenersHit, pipelineShared } from "./faults/kafka_error.ts";
import { componentOptions, DETECTOR_ONLY, fakeStack } from "./_component_fixtures.ts";

const plan = portPlan(29000, 3);
const harness = "127.0.0.1:29116,127.0.0.1:29126,127.0.0.1:29136";
const stack = fakeStack({
  kafka: { bootstrap: harness },
}, { plan, dataDir: "/tmp/x/stack", nodes: new Map([[KAFKA_PROXY_NODE, {}]]) });
const options = componentOptions(stack, "http://127.0.0.1:29040/alerts");
const scenario = DETECTOR_ONLY;

function box(uid: number): Sandbox {
  const p = { hide: [], binds: [], stage: `/b/${uid}/stage`, cwd: "/srv/team", uid };
  return new Sandbox(uid, `/b/${uid}`, p, "/opt/deno:/usr/bin", "/opt/deno-dir");
}

const ports = (component: "sink" | "detector" | "generator") =>
  listenerBootstrap(stack, component).split(",");
const shared = [
  "http://127.0.0.1:29010",
  "redis://127.0.0.1:29020",
  "http://127.0.0.1:29040/alerts",
];

Deno.test("a graded sink and detector run in a box each, each reaching only its own Kafka ports", () => {
  const [sinkBox, detectorBox] = [box(61001), box(61002)];
  const own: OwnPipeline = {
    sink: "python3 sink.py",
    detector: "node detector.js",
    cwd: "/srv/team",
    sandbox: box(61000), // setup's: runs neither component
    sandboxes: { sink: sinkBox, detector: detectorBox },
  };
  assert.equal(sandboxOf(own, "sink"), sinkBox);
  assert.equal(sandboxOf(own, "detector"), detectorBox);
  const nodes = components(scenario, { ...options, own });
  const sink = nodes.get("sink")!.spec;
  const detector = nodes.get("detector")!.spec;
  assert.equal(wrappedUid([sink.cmd, ...sink.args]), 61001);
  assert.equal(wrappedUid([detector.cmd, ...detector.args]), 61002);
  assert.equal(sink.env!.HOME, "/b/61001/home");
  assert.equal(detector.env!.KAFKA_BROKERS, listenerBootstrap(stack, "detector"));

  const endpoints = sandboxEndpoints(nodes, own, stack);
  assert.deepEqual([...endpoints.keys()], [sinkBox, detectorBox], "setup's box gets nothing");
  assert.deepEqual(endpoints.get(sinkBox)!.sort(), [...ports("sink"), ...shared].sort());
  assert.deepEqual(endpoints.get(detectorBox)!.sort(), [...ports("detector"), ...shared].sort());
  for (const forbidden of [...ports("detector"), ...ports("generator"), ...harness.split(",")]) {
    assert.ok(!endpoints.get(sinkBox)!.includes(forbidden), `the sink reaches ${forbidden}`);
  }
  for (const forbidden of [...ports("sink"), ...ports("generator"), ...harness.split(",")]) {
    assert.ok(
      !endpoints.get(detectorBox)!.includes(forbidden),
      `the detector reaches ${forbidden}`,
    );
  }
  // kafka_error tells them apart: a fault on the sink hits the sink's listeners only.
  const shares = pipelineShared(nodes as unknown as Map<string, StackNode>);
  assert.equal(shares, false);
  assert.deepEqual(listenersHit(["sink"], shares), ["sink"]);
});

Deno.test("one box for both, or a combined pipeline: both components' ports, and a fault hits both", () => {
  const one = box(61003);
  for (
    const own of [
      { sink: "python3 sink.py", detector: "node detector.js", cwd: "/srv/team", sandbox: one },
      { combined: "./start.sh", cwd: "/srv/team", sandbox: one },
    ] as OwnPipeline[]
  ) {
    const nodes = components(scenario, { ...options, own });
    const endpoints = sandboxEndpoints(nodes, own, stack);
    assert.deepEqual([...endpoints.keys()], [one]);
    assert.deepEqual(
      endpoints.get(one)!.sort(),
      [...ports("sink"), ...ports("detector"), ...shared].sort(),
    );
    const shares = pipelineShared(nodes as unknown as Map<string, StackNode>);
    assert.equal(shares, true, JSON.stringify(own));
    assert.deepEqual(listenersHit(["sink"], shares), ["sink", "detector"]);
  }
});

Deno.test("a box whose uid cannot be read counts as shared; built-in components have no box", () => {
  const node = (cmd: string, args: string[]) => ({ spec: { cmd, args } }) as unknown as StackNode;
  const unreadable = node("unshare", ["--mount", "--", "bash", "-c", "true"]);
  const readable = node("unshare", ["--", "bash", "-c", "exec setpriv --reuid 61005 --regid 1"]);
  assert.equal(pipelineShared(new Map([["sink", unreadable], ["detector", readable]])), true);
  assert.equal(pipelineShared(new Map([["sink", readable], ["detector", readable]])), true);
  const other = node("unshare", ["--", "bash", "-c", "exec setpriv --reuid 61006 --regid 1"]);
  assert.equal(pipelineShared(new Map([["sink", readable], ["detector", other]])), false);
  // A sink of the team's with the built-in detector: only the sink is boxed.
  const own: OwnPipeline = { sink: "python3 sink.py", cwd: "/srv/team", sandbox: box(61007) };
  assert.equal(sandboxOf(own, "detector"), undefined);
  const nodes = components(scenario, { ...options, own });
  const endpoints = sandboxEndpoints(nodes, own, stack);
  assert.deepEqual(endpoints.get(own.sandbox!)!.sort(), [...ports("sink"), ...shared].sort());
  assert.equal(sandboxOf(undefined, "sink"), undefined);
});

/** A box whose memory cgroup says `kills` OOM kills (64 MiB bound). */
class Measured extends Sandbox {
  kills = 0;
  override memory() {
    return { limitMb: 64, peakMb: 64, oomKills: this.kills };
  }
}
function measured(uid: number): Measured {
  const p = { hide: [], binds: [], stage: `/b/${uid}/stage`, cwd: "/srv/team", uid };
  return new Measured(uid, `/b/${uid}`, p, "/opt/deno:/usr/bin", "/opt/deno-dir");
}

Deno.test("an OOM kill in a component's box during the run is the submission's failure, with evidence", () => {
  const [setup, sink, detector] = [measured(61010), measured(61011), measured(61012)];
  setup.kills = 5; // setup's box runs no component: its kills are setup's, not the run's
  detector.kills = 2; // before this run (an earlier scenario of the suite)
  const own: OwnPipeline = {
    sink: "python3 sink.py",
    detector: "node detector.js",
    cwd: "/srv/team",
    sandbox: setup,
    sandboxes: { sink, detector },
  };
  const before = oomCounts(own);
  assert.deepEqual([...before.values()], [0, 2]);
  assert.equal(oomFailure(own, before), undefined, "no kill during the run");
  sink.kills = 1;
  assert.equal(
    oomFailure(own, before),
    "the sink's sandbox reached its memory bound of 64 MiB (CHAOS_SANDBOX_MEMORY_MB): the " +
      "kernel's OOM killer killed 1 of its processes (peak 64 MiB) (see logs/sink.log)",
  );
  sink.kills = 0;
  detector.kills = 3;
  assert.match(oomFailure(own, before)!, /^the detector's sandbox .* killed 1 of its/);
  // A combined pipeline's box runs both: the pipeline's.
  const one = measured(61013);
  const combined: OwnPipeline = { combined: "./start.sh", cwd: "/srv/team", sandbox: one };
  const start = oomCounts(combined);
  one.kills = 1;
  assert.match(oomFailure(combined, start)!, /^the pipeline's sandbox .*logs\/pipeline\.log\)$/);
  // The built-in pipeline, or an unsandboxed one: no box, nothing to say.
  assert.equal(oomFailure(undefined, new Map()), undefined);
  assert.equal(oomFailure({ sink: "x", cwd: "/srv/team" }, new Map()), undefined);
});
