import assert from "node:assert/strict";
import {
  countsSince,
  decide,
  emptyCounts,
  type KafkaProxyMode,
  modeProblems,
  type ProxyListener,
  total,
} from "./kafka_proxy_mode.ts";

const NOT_LEADER: KafkaProxyMode = {
  mode: "error",
  brokers: [1, 3],
  apis: ["Produce", "Fetch"],
  code: "NOT_LEADER_OR_FOLLOWER",
  share: 0.5,
};
const produce = (broker: number, listener: ProxyListener = "generator") => ({
  broker,
  apiKey: 0,
  listener,
});

Deno.test("decide() acts on its brokers, APIs, target listeners and share only", () => {
  const low = () => 0.1;
  const high = () => 0.9;
  assert.deepEqual(decide(NOT_LEADER, produce(1), low), {
    action: "error",
    code: 6,
    name: "NOT_LEADER_OR_FOLLOWER",
  });
  assert.deepEqual(decide(NOT_LEADER, produce(1), high), { action: "forward" });
  assert.deepEqual(decide(NOT_LEADER, produce(2), low), { action: "forward" });
  assert.deepEqual(decide(NOT_LEADER, { ...produce(1), apiKey: 3 }, low), { action: "forward" });
  assert.deepEqual(decide(undefined, produce(1), low), { action: "forward" });
  const sinkOnly: KafkaProxyMode = { ...NOT_LEADER, targets: ["sink"] };
  assert.deepEqual(decide(sinkOnly, produce(1), low), { action: "forward" });
  assert.deepEqual(decide(sinkOnly, produce(1, "harness"), low), { action: "forward" });
  assert.equal(decide(sinkOnly, produce(1, "sink"), low).action, "error");
  // The harness's listener is hit only by a mode without targets.
  assert.equal(decide(NOT_LEADER, produce(1, "harness"), low).action, "error");
  const delay: KafkaProxyMode = {
    mode: "delay",
    brokers: [1],
    apis: ["Fetch"],
    delayMs: 300,
    share: 1,
  };
  assert.deepEqual(decide(delay, { broker: 1, apiKey: 1, listener: "detector" }, low), {
    action: "delay",
    delayMs: 300,
  });
  const drop: KafkaProxyMode = { mode: "drop_answer", brokers: [1], apis: ["Produce"], share: 1 };
  assert.deepEqual(decide(drop, produce(1), low), { action: "drop_answer" });
  // share 1 always acts: the dice are below 1.
  assert.equal(decide({ ...NOT_LEADER, share: 1 }, produce(1), () => 0.999999).action, "error");
  assert.equal(decide({ ...NOT_LEADER, share: 0 }, produce(1), () => 0).action, "forward");
});

Deno.test("modeProblems() names each invalid field and the invalid code/API pairs", () => {
  assert.deepEqual(modeProblems(NOT_LEADER), []);
  assert.deepEqual(
    modeProblems({ ...NOT_LEADER, apis: ["Produce", "OffsetCommit", "Metadata"] }),
    [
      "OffsetCommit is never answered NOT_LEADER_OR_FOLLOWER (it is answered " +
      "COORDINATOR_NOT_AVAILABLE or REQUEST_TIMED_OUT)",
      "Metadata is never answered NOT_LEADER_OR_FOLLOWER (it is answered LEADER_NOT_AVAILABLE)",
    ],
  );
  assert.match(modeProblems({ ...NOT_LEADER, code: undefined }).join(), /code must be one of/);
  assert.match(modeProblems({ ...NOT_LEADER, share: 2 }).join(), /share must be 0..1, got 2/);
  assert.match(modeProblems({ ...NOT_LEADER, brokers: [] }).join(), /brokers must be/);
  assert.match(
    modeProblems({ ...NOT_LEADER, apis: ["Heartbeat" as "Fetch"] }).join(),
    /apis must be some of/,
  );
  assert.match(
    modeProblems({ ...NOT_LEADER, targets: ["harness" as "sink"] }).join(),
    /targets must be some of generator, sink, detector/,
  );
  // The client-id prefixes of old: a client chooses its id, so they are refused.
  assert.match(
    modeProblems({ ...NOT_LEADER, clients: ["sink"] } as KafkaProxyMode).join(),
    /clients .* is gone: use targets/,
  );
  assert.match(
    modeProblems({ mode: "delay", brokers: [1], apis: ["Fetch", "Produce"], share: 1 }).join(),
    /delay acts on one API.*delayMs must be whole milliseconds/,
  );
  assert.match(
    modeProblems({ mode: "drop_answer", brokers: [1], apis: ["Fetch"], share: 1 }).join(),
    /drop_answer acts on Produce only/,
  );
  assert.match(modeProblems({ ...NOT_LEADER, mode: "crash" as "error" }).join(), /mode must be/);
});

Deno.test("countsSince() and total(): what happened in between, on some brokers", () => {
  const before = { 1: emptyCounts(), 2: emptyCounts() };
  before[1].errors["Produce/NOT_LEADER_OR_FOLLOWER"] = 2;
  const after = structuredClone(before);
  after[1].errors["Produce/NOT_LEADER_OR_FOLLOWER"] = 5;
  after[1].requests.Produce = 9;
  after[2].dropped.Produce = 1;
  const since = countsSince(before, after);
  assert.deepEqual(since[1].errors, { "Produce/NOT_LEADER_OR_FOLLOWER": 3 });
  assert.deepEqual(since[1].requests, { Produce: 9 });
  assert.equal(total(since, "errors"), 3);
  assert.equal(total(since, "errors", [2]), 0);
  assert.equal(total(since, "dropped", [2]), 1);
  assert.equal(total(countsSince(after, after), "errors"), 0);
});
