/**
 * A heal's restart waits for the service to answer (signals.ts: `waitAnswering`, `restartDead`),
 * with fake probes and fake nodes: back after a few probes, never back (bounded, the probe's last
 * word kept), dead again (given up), and a restart that did not come back fails the heal as an
 * environment problem naming the node.
 */
import assert from "node:assert/strict";
import type { ProcessState } from "../../compose/process_node.ts";
import type { StackNode } from "../../compose/stack.ts";
import { EnvironmentError } from "../../lib/exit_codes.ts";
import { type Answer, NotBackError, restartDead, waitAnswering } from "./signals.ts";
import type { FaultContext } from "./types.ts";

/** A probe answering each node with its script of answers, the last one repeated. */
function scripted(script: Record<string, Answer[]>) {
  const calls: Record<string, number> = {};
  const probe = (name: string) => {
    const i = calls[name] = (calls[name] ?? 0) + 1;
    const answers = script[name];
    return Promise.resolve(answers[Math.min(i, answers.length) - 1]);
  };
  return { probe, calls };
}

const notReady: Answer = { ok: false, why: "it runs, but its service does not answer" };
const dead: Answer = { ok: false, why: "it is dead", gone: true };
const fast = { timeoutMs: 200, intervalMs: 1, progress: () => {} };

Deno.test("waitAnswering(): a node that answers after a few probes is back", async () => {
  const { probe, calls } = scripted({ "kafka-2": [notReady, notReady, { ok: true }] });
  const lines: string[] = [];
  const notBack = await waitAnswering(["kafka-2"], probe, {
    ...fast,
    progress: (l) => lines.push(l),
  });
  assert.deepEqual(notBack, {});
  assert.equal(calls["kafka-2"], 3);
  assert.equal(lines.length, 2, "the wait is told while the node does not answer");
  assert.match(lines[0], /waiting for kafka-2 to answer after its restart .*: it runs, but/);
});

Deno.test("waitAnswering(): nothing to wait for", async () => {
  assert.deepEqual(await waitAnswering([], () => Promise.reject(new Error("never")), fast), {});
});

Deno.test("waitAnswering(): one never back is bounded and named with its last probe", async () => {
  const { probe } = scripted({
    "kafka-1": [{ ok: true }],
    redis: [{ ok: false, why: "it is paused" }, notReady],
  });
  const notBack = await waitAnswering(["kafka-1", "redis"], probe, fast);
  assert.deepEqual(Object.keys(notBack), ["redis"]);
  assert.match(
    notBack.redis,
    /^it did not answer within 0.2 s of its restart \(its last probe: it runs, but its service/,
  );
});

Deno.test("waitAnswering(): a probe that throws or hangs counts as not answering", async () => {
  const notBack = await waitAnswering(
    ["minio", "kafka-3"],
    (name) =>
      name === "minio"
        ? Promise.reject(new Error("connection refused"))
        : new Promise<Answer>(() => {}),
    { ...fast, probeTimeoutMs: 20 },
  );
  assert.match(notBack.minio, /did not answer within .*its probe failed: connection refused\)$/);
  assert.match(notBack["kafka-3"], /its probe failed: a check took longer than 20 ms\)$/);
});

Deno.test("waitAnswering(): a node dead again is given up before the bound", async () => {
  const { probe, calls } = scripted({ "kafka-2": [notReady, dead] });
  const notBack = await waitAnswering(["kafka-2"], probe, { ...fast, timeoutMs: 60_000 });
  assert.equal(notBack["kafka-2"], "it died again after its restart (its last probe: it is dead)");
  assert.equal(calls["kafka-2"], 4, "one not ready, then three dead in a row");
});

/** A node that is dead until started. */
function fakeNode(name: string, initially: ProcessState): StackNode & { starts: number } {
  let state = initially;
  const node = {
    name,
    starts: 0,
    state: () => state,
    refresh: () => Promise.resolve(state),
    pid: () => (state === "dead" ? undefined : 4242),
    start: () => {
      node.starts++;
      state = "running";
      return Promise.resolve();
    },
  };
  return node as unknown as StackNode & { starts: number };
}

function fakeContext(nodes: StackNode[]): FaultContext {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  return {
    stack: { node: (name: string) => byName.get(name)! },
    components: new Map(),
  } as unknown as FaultContext;
}

Deno.test("restartDead(): starts the dead, waits for them to answer, names them", async () => {
  const k1 = fakeNode("kafka-1", "running");
  const k2 = fakeNode("kafka-2", "dead");
  const { probe, calls } = scripted({ "kafka-2": [notReady, { ok: true }] });
  const restarted = await restartDead(fakeContext([k1, k2]), ["kafka-1", "kafka-2"], {
    ...fast,
    probe,
  });
  assert.deepEqual(restarted, ["kafka-2"]);
  assert.equal(k1.starts, 0);
  assert.equal(k2.starts, 1);
  assert.equal(calls["kafka-1"], undefined, "only what it restarted is awaited");
  assert.equal(calls["kafka-2"], 2);
});

Deno.test("restartDead(): a restarted service that does not answer fails the heal", async () => {
  const k2 = fakeNode("kafka-2", "dead");
  const { probe } = scripted({ "kafka-2": [notReady] });
  const error = await restartDead(fakeContext([k2]), ["kafka-2"], { ...fast, probe })
    .then(() => undefined, (e) => e);
  assert.ok(error instanceof NotBackError, String(error));
  assert.ok(error instanceof EnvironmentError, "an environment problem");
  assert.match(
    String(error),
    /^EnvironmentError: restarted by the heal, but not back: kafka-2: it did not answer within 0.2 s of its restart \(its last probe: it runs, but its service does not answer\)$/,
  );
  assert.deepEqual(Object.keys((error as NotBackError).notBack), ["kafka-2"]);
});
