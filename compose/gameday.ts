/**
 * Game days: faults injected by hand into a running stack (`deno task fault`).
 * The process that injects a fault owns its heal and stays until the fault
 * ends (its `--for`, Ctrl-C, or a `fault heal` from another terminal, which
 * signals it). Each active fault is a file under the stack's state folder,
 * `.chaos/stacks/<name>/gameday/<id>.json`; every inject and heal is a line of
 * `.chaos/stacks/<name>/gameday/history.jsonl`. `deno task down` heals what is
 * still active before it stops the stack.
 *
 * ```ts
 * import { activeFaults, healActive } from "./gameday.ts";
 * for (const f of await activeFaults("default")) console.log(f.id, f.kind, f.target);
 * await healActive("default"); // signals every owner and waits for its heal
 * ```
 * @module
 */

import { join } from "node:path";
import { sleep } from "../lib/wait.ts";
import { stateDir } from "./paths.ts";
import { processState } from "./process_node.ts";

export interface ActiveFault {
  id: string;
  kind: string;
  target: string;
  nodes: string[];
  params: Record<string, unknown>;
  /** The owning process, which heals it. */
  pid: number;
  since: string;
  /** When it heals by itself (ISO), or null: until healed. */
  until: string | null;
}

export function gamedayDir(stack: string): string {
  return join(stateDir(), "stacks", stack, "gameday");
}

/** Appends one event to the game day's history. */
export async function recordGameday(stack: string, event: Record<string, unknown>): Promise<void> {
  await Deno.mkdir(gamedayDir(stack), { recursive: true });
  await Deno.writeTextFile(
    join(gamedayDir(stack), "history.jsonl"),
    JSON.stringify({ time: new Date().toISOString(), ...event }) + "\n",
    { append: true },
  );
}

export async function markActive(stack: string, fault: ActiveFault): Promise<void> {
  await Deno.mkdir(gamedayDir(stack), { recursive: true });
  await Deno.writeTextFile(join(gamedayDir(stack), `${fault.id}.json`), JSON.stringify(fault));
}

export async function markHealed(stack: string, id: string): Promise<void> {
  await Deno.remove(join(gamedayDir(stack), `${id}.json`)).catch(() => {});
}

const alive = (pid: number) => processState(pid) !== "dead";

/** The faults active on `stack`; records whose owner died are dropped (nothing can heal them). */
export async function activeFaults(stack: string): Promise<ActiveFault[]> {
  const out: ActiveFault[] = [];
  try {
    for await (const e of Deno.readDir(gamedayDir(stack))) {
      if (!e.isFile || !e.name.endsWith(".json")) continue;
      const path = join(gamedayDir(stack), e.name);
      try {
        const fault = JSON.parse(await Deno.readTextFile(path)) as ActiveFault;
        if (alive(fault.pid)) out.push(fault);
        else await Deno.remove(path).catch(() => {});
      } catch { /* half written: skip */ }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort((a, b) => a.since.localeCompare(b.since));
}

/**
 * Asks the owners of the given active faults (default all) to heal them (SIGTERM), and waits
 * until they are gone (at most `timeoutMs` each). Returns the ids healed.
 */
export async function healActive(
  stack: string,
  ids?: readonly string[],
  timeoutMs = 60_000,
): Promise<string[]> {
  const chosen = (await activeFaults(stack)).filter((f) => !ids || ids.includes(f.id));
  for (const f of chosen) {
    try {
      Deno.kill(f.pid, "SIGTERM");
    } catch { /* gone */ }
  }
  const deadline = performance.now() + timeoutMs;
  while (chosen.some((f) => alive(f.pid)) && performance.now() < deadline) await sleep(200);
  const stuck = chosen.filter((f) => alive(f.pid));
  if (stuck.length) {
    throw new Error(
      `the owners of ${stuck.map((f) => f.id).join(", ")} did not heal within ${timeoutMs} ms`,
    );
  }
  return chosen.map((f) => f.id);
}
