import assert from "node:assert/strict";
import {
  kafkaError,
  listenersHit,
  needsKafkaProxy,
  pipelineShared,
  proxyMode,
  targetsOf,
} from "./kafka_error.ts";
import type { StackNode } from "../../compose/stack.ts";
import { FAULTS, stackProblems } from "./mod.ts";
import { modeProblems } from "../../compose/kafka_proxy_mode.ts";

const parse = (p: Record<string, unknown>) => kafkaError.params.parse(p);

Deno.test("kafka_error: params, their defaults and the valid code/API pairs", () => {
  assert.deepEqual(parse({ code: "NOT_LEADER_OR_FOLLOWER" }), {
    mode: "error",
    apis: ["Produce"],
    code: "NOT_LEADER_OR_FOLLOWER",
    share: 1,
  });
  assert.deepEqual(
    parse({
      apis: ["OffsetCommit", "FindCoordinator"],
      code: "COORDINATOR_NOT_AVAILABLE",
      share: 0.5,
      target: "sink",
    }).apis,
    ["OffsetCommit", "FindCoordinator"],
  );
  assert.equal(
    parse({ apis: ["Metadata"], code: "LEADER_NOT_AVAILABLE" }).code,
    "LEADER_NOT_AVAILABLE",
  );
  assert.equal(parse({ mode: "delay", apis: ["Fetch"], delay_ms: 500 }).delay_ms, 500);
  assert.equal(parse({ mode: "drop_answer", share: 0.01 }).share, 0.01);
  const refused: [Record<string, unknown>, RegExp][] = [
    [{}, /mode error needs a code/],
    [
      { apis: ["Fetch"], code: "NOT_ENOUGH_REPLICAS" },
      /Fetch is never answered NOT_ENOUGH_REPLICAS/,
    ],
    [{ apis: ["FindCoordinator"], code: "REQUEST_TIMED_OUT" }, /FindCoordinator is never answered/],
    [{ apis: ["Metadata"], code: "NOT_LEADER_OR_FOLLOWER" }, /Metadata is never answered/],
    [{ apis: ["Heartbeat"], code: "REQUEST_TIMED_OUT" }, /apis/],
    [{ code: "OFFSET_OUT_OF_RANGE" }, /code/],
    [{ mode: "delay", apis: ["Fetch"] }, /mode delay needs delay_ms/],
    [{ mode: "delay", apis: ["Fetch", "Produce"], delay_ms: 5 }, /delay acts on one API/],
    [{ mode: "delay", apis: ["Fetch"], delay_ms: 5, code: "REQUEST_TIMED_OUT" }, /takes no code/],
    [{ mode: "drop_answer", apis: ["Fetch"] }, /drop_answer acts on Produce only/],
    [{ mode: "drop_answer", delay_ms: 5 }, /takes no delay_ms/],
    [{ code: "REQUEST_TIMED_OUT", share: 0 }, /more than 0/],
    [{ code: "REQUEST_TIMED_OUT", target: [] }, /target/],
    [{ code: "REQUEST_TIMED_OUT", target: "harness" }, /target/],
    // Client-id prefixes, which a client chooses, are no way to target it any more.
    [{ code: "REQUEST_TIMED_OUT", clients: ["sink"] }, /clients/],
    [{ code: "REQUEST_TIMED_OUT", listeners: ["client"] }, /listeners/],
  ];
  for (const [params, message] of refused) {
    assert.throws(() => parse(params), message, JSON.stringify(params));
  }
});

Deno.test("kafka_error: the proxy's mode from its params is one the proxy takes", () => {
  const params = parse({ mode: "delay", apis: ["Fetch"], delay_ms: 250, target: "detector" });
  const mode = proxyMode(params, [2]);
  assert.deepEqual(mode, {
    mode: "delay",
    brokers: [2],
    apis: ["Fetch"],
    delayMs: 250,
    share: 1,
    targets: ["detector"],
  });
  assert.deepEqual(modeProblems(mode), []);
  assert.deepEqual(modeProblems(proxyMode(parse({ code: "NOT_ENOUGH_REPLICAS" }), [1, 2, 3])), []);
});

Deno.test("kafka_error: brokers of the local and docker stacks; a run that uses it gets the proxy", () => {
  assert.equal(FAULTS.kafka_error, kafkaError);
  assert.deepEqual(kafkaError.stacks, ["local", "docker"]);
  assert.deepEqual(stackProblems([{ kind: "kafka_error", target: "broker:1" }], "local"), []);
  assert.deepEqual(stackProblems([{ kind: "kafka_error", target: "all-brokers" }], "docker"), []);
  assert.equal(needsKafkaProxy({ faults: [{ kind: "kill" }] }), false);
  assert.equal(needsKafkaProxy({ faults: [{ kind: "kill" }, { kind: "kafka_error" }] }), true);
  assert.equal(needsKafkaProxy({ faults: [], chaos: { actions: ["kafka_error"] } }), true);
});

Deno.test("kafka_error: a graded pipeline's sink and detector are hit together", () => {
  assert.deepEqual(targetsOf("sink"), ["sink"]);
  assert.deepEqual(targetsOf(["sink", "generator"]), ["sink", "generator"]);
  assert.equal(targetsOf(undefined), undefined);
  // The builtin pipeline: its own processes, its own ports.
  const node = (cmd: string) => ({ spec: { cmd } }) as unknown as StackNode;
  const builtin = new Map([["sink", node("deno")], ["detector", node("deno")]]);
  assert.equal(pipelineShared(builtin), false);
  assert.deepEqual(listenersHit(["sink"], false), ["sink"]);
  // One process behind both names, or both in one sandbox (one uid, one chain): either target
  // hits both, else the sink could use the detector's ports and dodge.
  const combined = node("bash");
  assert.equal(pipelineShared(new Map([["sink", combined], ["detector", combined]])), true);
  const boxed = new Map([["sink", node("unshare")], ["detector", node("unshare")]]);
  assert.equal(pipelineShared(boxed), true);
  assert.deepEqual(listenersHit(["sink"], true), ["sink", "detector"]);
  assert.deepEqual(listenersHit(["detector"], true), ["sink", "detector"]);
  assert.deepEqual(listenersHit(["generator"], true), ["generator"]);
  assert.deepEqual(listenersHit(["generator", "sink"], true), ["generator", "sink", "detector"]);
  assert.equal(listenersHit(undefined, true), undefined);
  const params = parse({ code: "NOT_LEADER_OR_FOLLOWER", target: "sink" });
  assert.deepEqual(proxyMode(params, [1], listenersHit(targetsOf(params.target), true)).targets, [
    "sink",
    "detector",
  ]);
});
