/**
 * A freezer cgroup around one node's processes, so that a fault reaches every
 * process the node started, whatever session or process group it moved to
 * (`setsid -f`, `start_new_session=True`): the node's start script joins the
 * cgroup before it execs the command, and all it forks inherits it. The cgroup
 * can be frozen and thawed as a whole (cgroup v1 `freezer.state`, v2
 * `cgroup.freeze`), every member killed (frozen first, so that none forks or
 * exits meanwhile and no pid is recycled under the signal; v2: `cgroup.kill`),
 * and removed once empty.
 *
 * Without a usable freezer (no hierarchy, or no right to make a cgroup: not
 * root) `openFreezer` answers undefined and warns once; the node then keeps
 * to process-group signals.
 *
 * A run's cgroups normally go with its teardown (or, when the harness was
 * SIGKILLed, with its watchdog: compose/local_services.ts). What is left of
 * runs that ended without either (the machine's processes all killed at once)
 * is removed when the next run makes its first cgroup: `sweepLeftovers` drops
 * every `chaos-<run>` whose cgroups are all empty and older than
 * `LEFTOVER_AGE_MS` (a run still going re-makes a removed cgroup at its next
 * start: `Freezer.ensure`).
 *
 * ```ts
 * const freezer = openFreezer("chaos-run1/sink");
 * // the start script: echo $$ > "$dir/cgroup.procs"; exec ...
 * await freezer?.freeze(); await freezer?.thaw();
 * const survivors = await freezer?.killAll(10_000); // [] once empty
 * ```
 * @module
 */

import { join } from "node:path";
import { sleep } from "../lib/wait.ts";
import { controllerLayout, type Layout } from "./cgroup.ts";

const ROOT = "/sys/fs/cgroup";

/** Members of a node's cgroup still alive after it was killed and torn down. */
export class CgroupSurvivorsError extends Error {
  override name = "CgroupSurvivorsError";
  constructor(readonly cgroup: string, readonly survivors: number[]) {
    super(`cgroup ${cgroup} still holds pid(s) ${survivors.join(", ")} after SIGKILL`);
  }
}

const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** Where freezer cgroups can be made on this host, or null (v2: every cgroup can freeze). */
export function freezerLayout(): Layout | null {
  if (exists(join(ROOT, "cgroup.controllers"))) return { version: 2, base: ROOT };
  return controllerLayout("freezer", "cgroup.procs");
}

/** Whether this host lets the harness make freezer cgroups (root, a freezer hierarchy). */
export function freezerUsable(): boolean {
  const layout = freezerLayout();
  if (!layout) return false;
  const probe = join(layout.base, `chaos-probe-${Deno.pid}`);
  try {
    Deno.mkdirSync(probe);
    Deno.removeSync(probe);
    return true;
  } catch {
    return false;
  }
}

/** The cgroup directory for `name` (`chaos-<run>/<node>`: each part made safe) under `base`. */
export function freezerDir(base: string, name: string): string {
  const parts = name.split("/").filter(Boolean)
    .map((p) => /^\.+$/.test(p) ? "_" : p.replace(/[^\w.-]/g, "_"));
  return join(base, ...parts);
}

/** Pids in the cgroup `dir` now ([] when it is gone). */
export function membersOf(dir: string): number[] {
  try {
    return Deno.readTextFileSync(join(dir, "cgroup.procs")).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** How old an empty run cgroup must be before another run removes it as a leftover. */
export const LEFTOVER_AGE_MS = 15 * 60_000;

/** What the freezer cgroups hold of runs that are over: `chaos-<run>` folders, all empty. */
export function leftovers(base: string, now = Date.now(), minAgeMs = LEFTOVER_AGE_MS): string[] {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(base)];
  } catch {
    return out;
  }
  for (const e of entries) {
    // chaos-harness holds the cpu and memory faults' cgroups (cgroup v2: the same hierarchy).
    if (!e.isDirectory || !e.name.startsWith("chaos-") || e.name === "chaos-harness") continue;
    const dir = join(base, e.name);
    const children = [...Deno.readDirSync(dir)].filter((c) => c.isDirectory)
      .map((c) => join(dir, c.name));
    const born = Deno.statSync(dir).mtime?.getTime() ?? now;
    const empty = [dir, ...children].every((d) => membersOf(d).length === 0);
    // A cgroup of a cgroup (a component's own) is not the harness's: left alone.
    const nested = children.some((c) => [...Deno.readDirSync(c)].some((g) => g.isDirectory));
    if (empty && !nested && now - born >= minAgeMs) out.push(dir);
  }
  return out;
}

/** Removes the empty run cgroups `leftovers` finds (children first); what was removed. */
export function sweepLeftovers(base: string, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const dir of leftovers(base, now)) {
    try {
      for (const c of Deno.readDirSync(dir)) if (c.isDirectory) Deno.removeSync(join(dir, c.name));
      Deno.removeSync(dir);
      removed.push(dir);
    } catch { /* a member joined meanwhile, or another harness removed it: not ours */ }
  }
  return removed;
}

let warned = false;
let swept = false;

/** Warns once per process that nodes fall back to process-group signals, and why. */
function warnOnce(why: string): void {
  if (warned) return;
  warned = true;
  console.error(
    `warning: no freezer cgroup for the pipeline's processes (${why}); faults reach only ` +
      `each node's process group`,
  );
}

/** Makes (or reuses) the freezer cgroup `name`; undefined, after one warning, when it cannot. */
export function openFreezer(name: string): Freezer | undefined {
  const layout = freezerLayout();
  if (!layout) {
    warnOnce("this host has no cgroup freezer");
    return undefined;
  }
  const dir = freezerDir(layout.base, name);
  if (!swept) {
    swept = true;
    try {
      sweepLeftovers(layout.base);
    } catch { /* the hierarchy cannot be read: nothing to sweep */ }
  }
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (error) {
    warnOnce(`cannot make ${dir}: ${(error as Error).message}; it needs root`);
    return undefined;
  }
  const control = layout.version === 1 ? "freezer.state" : "cgroup.freeze";
  if (!exists(join(dir, control))) {
    warnOnce(`${dir} has no ${control}`);
    try {
      Deno.removeSync(dir);
    } catch { /* not ours to keep */ }
    return undefined;
  }
  return new Freezer(dir, layout.version, layout.base);
}

/** What a node needs of its freezer cgroup (a test may hand a node a stand-in). */
export type CgroupFreezer = Pick<
  Freezer,
  | "dir"
  | "version"
  | "base"
  | "ensure"
  | "join"
  | "members"
  | "frozen"
  | "freeze"
  | "thaw"
  | "signalAll"
  | "killAll"
  | "remove"
>;

export class Freezer {
  constructor(readonly dir: string, readonly version: 1 | 2, readonly base: string) {}

  /** Makes the directory again (after `remove`). */
  ensure(): void {
    Deno.mkdirSync(this.dir, { recursive: true });
  }

  /** Moves `pid` (and only it: not what it forked already) into the cgroup. */
  join(pid: number): void {
    Deno.writeTextFileSync(join(this.dir, "cgroup.procs"), String(pid));
  }

  /** Pids in the cgroup now ([] when it is gone). */
  members(): number[] {
    return membersOf(this.dir);
  }

  /** Whether the whole cgroup is frozen (v1 FROZEN, v2 `frozen 1`). */
  frozen(): boolean {
    try {
      if (this.version === 1) {
        return Deno.readTextFileSync(join(this.dir, "freezer.state")).trim() === "FROZEN";
      }
      return /^frozen 1$/m.test(Deno.readTextFileSync(join(this.dir, "cgroup.events")));
    } catch {
      return false;
    }
  }

  #write(frozen: boolean): Promise<void> {
    return this.version === 1
      ? Deno.writeTextFile(join(this.dir, "freezer.state"), frozen ? "FROZEN" : "THAWED")
      : Deno.writeTextFile(join(this.dir, "cgroup.freeze"), frozen ? "1" : "0");
  }

  /** Freezes every member; true once frozen within `timeoutMs`. */
  async freeze(timeoutMs = 5_000): Promise<boolean> {
    await this.#write(true);
    return await this.#until(() => this.frozen(), timeoutMs);
  }

  /** Thaws every member; true once thawed within `timeoutMs`. */
  async thaw(timeoutMs = 5_000): Promise<boolean> {
    await this.#write(false).catch(() => {}); // gone: nothing is frozen
    return await this.#until(() => !this.frozen(), timeoutMs);
  }

  /** Sends `sig` to every member, frozen meanwhile so that none forks, exits or is replaced. */
  async signalAll(sig: Deno.Signal): Promise<void> {
    const wasFrozen = this.frozen();
    await this.freeze(1_000);
    for (const pid of this.members()) {
      try {
        Deno.kill(pid, sig);
      } catch { /* gone meanwhile */ }
    }
    if (!wasFrozen) await this.thaw();
  }

  /**
   * SIGKILLs every member (v2 with `cgroup.kill`: the kernel does it) and waits until the cgroup
   * is empty, again while members remain; what is still there after `timeoutMs` (else []).
   */
  async killAll(timeoutMs = 10_000): Promise<number[]> {
    const deadline = performance.now() + timeoutMs;
    const killFile = join(this.dir, "cgroup.kill");
    while (true) {
      const left = this.members();
      if (left.length === 0) return [];
      if (performance.now() > deadline) return left;
      if (this.version === 2 && exists(killFile)) {
        await Deno.writeTextFile(killFile, "1").catch(() => {});
      } else {
        await this.freeze(1_000).catch(() => false);
        for (const pid of this.members()) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone meanwhile */ }
        }
        await this.thaw(1_000);
      }
      await this.#until(() => this.members().length === 0, 1_000);
    }
  }

  /**
   * Removes the cgroup (and its run's directory, when that is empty and not the hierarchy's
   * root); throws when members remain.
   */
  async remove(): Promise<void> {
    const left = this.members();
    if (left.length > 0) throw new CgroupSurvivorsError(this.dir, left);
    await Deno.remove(this.dir).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    const parent = join(this.dir, "..");
    if (parent !== this.base) await Deno.remove(parent).catch(() => {}); // others still in it
  }

  async #until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }
}
