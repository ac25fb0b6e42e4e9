/**
 * The rollback after the method (Chaos Toolkit's): once every fault is healed,
 * what is left dead or paused is started or resumed (`rollback.restart_dead`),
 * and the whole stack must be healthy within `rollback.healthy_within`. Also
 * the steady state before the method (required) and after it (recorded).
 * @module
 */

import type { Stack, StackNode } from "../compose/stack.ts";
import { EnvironmentError } from "../lib/exit_codes.ts";
import { waitFor } from "../lib/wait.ts";
import type { History } from "../validate/history.ts";
import { ms, type Scenario } from "./scenario.ts";

/**
 * The scenario's rollback after every fault was healed: start what is left dead (components
 * and stack nodes) and wait for every node to be healthy. Not healthy in time: the environment
 * did not come back, so nothing after it can be trusted (EnvironmentError: the run is unknown).
 */
export async function rollBack(
  scenario: Scenario,
  stack: Stack,
  components: ReadonlyMap<string, StackNode>,
  history: History,
  signal?: AbortSignal,
): Promise<void> {
  const started: string[] = [];
  const op = history.invoke("rollback", { restart_dead: scenario.rollback.restart_dead });
  if (scenario.rollback.restart_dead) {
    await stack.health(); // the docker stack reads its containers' states from the engine
    for (const node of [...stack.nodes.values(), ...components.values()]) {
      if (node.state() === "paused") await node.resume();
      if (node.state() === "dead") {
        await node.start();
        started.push(node.name);
      }
    }
  }
  try {
    await waitFor(async () => {
      const health = await stack.health();
      return Object.values(health).every((h) => h.state === "running" && h.ready);
    }, {
      what: "every node of the stack to be healthy after the rollback",
      timeoutMs: ms(scenario.rollback.healthy_within),
      signal,
      intervalMs: 1000,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    const health = await stack.health();
    const sick = Object.entries(health).filter(([, h]) => h.state !== "running" || !h.ready)
      .map(([n, h]) => `${n} (${h.state})`);
    history.complete(op, "fail", { started, unhealthy: sick });
    throw new EnvironmentError(
      `the stack was not healthy ${scenario.rollback.healthy_within} after the rollback: ${
        sick.join(", ")
      }`,
      { cause: error },
    );
  }
  history.complete(op, "ok", { started });
}

/** The steady state before the method: every node of the stack running and ready. */
export async function requireSteadyState(stack: Stack, history: History): Promise<void> {
  const health = await stack.health();
  const sick = Object.entries(health).filter(([, h]) => h.state !== "running" || !h.ready)
    .map(([n]) => n);
  if (sick.length) {
    throw new EnvironmentError(
      `steady state not met before the faults: ${sick.join(", ")} not healthy`,
    );
  }
  history.record("ok", "steady-state:before", health);
}

/** The steady state after the method, recorded (the verdict does not depend on it). */
export async function recordSteadyState(stack: Stack, history: History): Promise<void> {
  const after = await stack.health();
  const unhealthy = Object.entries(after).filter(([, h]) => h.state !== "running" || !h.ready);
  history.record(unhealthy.length ? "fail" : "ok", "steady-state:after", after);
}
