/**
 * Memory limits on a target's memory cgroup, for the `memory` fault: on the
 * local stack the target's process tree moves into a cgroup of the harness; on
 * the docker stack the container's own cgroup is used. The limit is then
 * lowered to what was asked. When the target holds more than that (its
 * resident memory; a moved process's old pages stay charged where they were:
 * recent kernels dropped `memory.move_charge_at_immigrate`), the target is
 * made the OOM killer's first choice (`oom_score_adj` 1000: raising needs no
 * privilege, where making the ballast immune would need CAP_SYS_RESOURCE) and
 * a ballast process joins the cgroup and takes memory until the cgroup runs
 * out: the kernel's OOM killer then kills the target, as it would a process
 * that outgrew its limit, and the ballast stops taking once a target is gone.
 * cgroup v1 refuses a limit below what the cgroup holds (EBUSY); the limit is
 * then what it holds, and the ballast does the rest. cgroup v1 (`memory`
 * controller) and v2 (`memory.max`) are supported; `memoryLimitProblem` says
 * why not on a host without them.
 *
 * A node with a cgroup of its own (a pipeline component, freezer.ts) is limited
 * as that cgroup: on v1 every member moves into the harness's memory cgroup
 * (followed while they move: `joinCgroup`); on v2 the limit is set on the
 * node's own cgroup (`MemoryLimit.inPlace`), with `memory.oom.group` on so that
 * the OOM killer takes the whole component, as `kill` does.
 *
 * ```ts
 * const limit = await MemoryLimit.own("run-kafka-2", pids); // or MemoryLimit.of(containerPid)
 * // below what they hold: the first pid is OOM-killed
 * const applied = await limit.apply(64 * MiB, residentBytes(pids), [pids[0]]);
 * // ... the fault ...
 * await limit.lift();
 * ```
 * @module
 */

import { join } from "node:path";
import {
  cgroupOf,
  cgroupProblem,
  controllerLayout,
  enableController,
  joinCgroup,
  type Layout,
  leaveCgroup,
  makeCgroup,
} from "./cgroup.ts";

export const MiB = 1024 * 1024;
/** What the ballast takes beyond the difference, so the cgroup surely runs out. */
const BALLAST_MARGIN = 8 * MiB;

/** Where memory limits can be made on this host, or null. */
export function memoryCgroup(): Layout | null {
  return controllerLayout("memory", "memory.limit_in_bytes");
}

/** Why a memory limit cannot be made here, or undefined when it can. */
export function memoryLimitProblem(): string | undefined {
  return cgroupProblem(
    "memory",
    memoryCgroup(),
    "a cgroup memory controller (cgroup v1 memory.limit_in_bytes or v2 memory.max)",
  );
}

/** What `apply` did: the limit as read back, what the cgroup held, and whether ballast went in. */
export interface AppliedLimit {
  limitBytes: number;
  usageBytes: number;
  ballast: boolean;
}

export class MemoryLimit {
  #ballast: Deno.ChildProcess | undefined;
  #previous: string | undefined;
  /** `memory.oom.group` before `apply` turned it on (v2, a node's own cgroup). */
  #previousGroup: string | undefined;
  /** pid -> its oom_score_adj before the fault made it the OOM killer's first choice. */
  readonly #scores = new Map<number, string>();

  private constructor(
    readonly layout: Layout,
    readonly dir: string,
    /** pid -> the cgroup it came from; empty for a cgroup not the harness's (a container's). */
    readonly origins: Map<number, string>,
    readonly owned: boolean,
    /** OOM kills take the whole cgroup (v2 `memory.oom.group`): a node's own cgroup. */
    readonly group = false,
  ) {}

  /**
   * A cgroup of the harness named `name`, with `pids` moved into it (the pages they hold stay
   * charged where they were); a function: a node cgroup's members, followed (`joinCgroup`).
   */
  static async own(
    name: string,
    pids: readonly number[] | (() => number[]),
  ): Promise<MemoryLimit> {
    const layout = memoryCgroup();
    if (!layout) throw new Error(memoryLimitProblem());
    const dir = await makeCgroup(layout, "memory", name);
    const limit = new MemoryLimit(layout, dir, new Map(), true);
    try {
      await joinCgroup(dir, layout, "memory", pids, limit.origins);
    } catch (error) {
      await limit.lift();
      throw error;
    }
    return limit;
  }

  /** The cgroup `pid` is in already (a container's), limited in place and restored on `lift`. */
  static of(pid: number): MemoryLimit {
    const layout = memoryCgroup();
    if (!layout) throw new Error(memoryLimitProblem());
    return new MemoryLimit(
      layout,
      join(layout.base, cgroupOf(pid, layout.version, "memory")),
      new Map(),
      false,
    );
  }

  /**
   * cgroup v2: the node's own cgroup `dir` under the hierarchy `base`, limited in place (its
   * members stay in it) and restored on `lift`; an OOM kill takes every member.
   */
  static async inPlace(base: string, dir: string): Promise<MemoryLimit> {
    await enableController(base, dir, "memory");
    try {
      await Deno.stat(join(dir, "memory.max"));
    } catch (error) {
      throw new Error(`cannot limit the memory of ${dir}: it has no memory.max (${error})`);
    }
    return new MemoryLimit({ version: 2, base }, dir, new Map(), false, true);
  }

  #file(v1: string, v2: string): string {
    return join(this.dir, this.layout.version === 1 ? v1 : v2);
  }

  /** Bytes the cgroup holds now. */
  async usage(): Promise<number> {
    return Number(await Deno.readTextFile(this.#file("memory.usage_in_bytes", "memory.current")));
  }

  /** The limit in bytes as the kernel reads it back (Infinity: none). */
  async limit(): Promise<number> {
    const text = (await Deno.readTextFile(this.#file("memory.limit_in_bytes", "memory.max")))
      .trim();
    const n = Number(text);
    return text === "max" || n >= 2 ** 62 ? Infinity : n;
  }

  /** Kills by the cgroup's OOM killer so far (null where the kernel does not count them). */
  async oomKills(): Promise<number | null> {
    const text = await Deno.readTextFile(this.#file("memory.oom_control", "memory.events"))
      .catch(() => "");
    const m = text.match(/^oom_kill (\d+)$/m);
    return m ? Number(m[1]) : null;
  }

  /** Writes the limit (`none`: no limit); false when the kernel cannot reclaim down to it. */
  async #setLimit(bytes: number | "none"): Promise<boolean> {
    const text = bytes !== "none" ? String(bytes) : this.layout.version === 1 ? "-1" : "max";
    try {
      await Deno.writeTextFile(this.#file("memory.limit_in_bytes", "memory.max"), text);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.Busy || /busy/i.test(String(error))) return false;
      throw error;
    }
  }

  /**
   * Lowers the limit to `bytes`. When `held` (what the targets hold: their resident memory)
   * is above it, the processes of `watch` become the OOM killer's first choice and ballast
   * takes memory in the cgroup until one of them is gone or the cgroup is `BALLAST_MARGIN` past
   * its limit.
   */
  async apply(bytes: number, held: number, watch: readonly number[]): Promise<AppliedLimit> {
    this.#previous ??= (await Deno.readTextFile(this.#file("memory.limit_in_bytes", "memory.max")))
      .trim();
    if (this.group && this.layout.version === 2) {
      const file = join(this.dir, "memory.oom.group");
      this.#previousGroup ??= (await Deno.readTextFile(file)).trim();
      await Deno.writeTextFile(file, "1");
    }
    let limitBytes = bytes;
    if (!(await this.#setLimit(bytes))) {
      // v1 cannot reclaim down to it: the limit is what the cgroup holds, the ballast the rest.
      limitBytes = Math.ceil((await this.usage()) / MiB) * MiB;
      if (!(await this.#setLimit(limitBytes))) {
        throw new Error(`the kernel refused a memory limit of ${limitBytes} bytes on ${this.dir}`);
      }
    }
    const ballast = held > bytes;
    if (ballast) {
      for (const pid of watch) {
        const path = `/proc/${pid}/oom_score_adj`;
        this.#scores.set(pid, (await Deno.readTextFile(path)).trim());
        await Deno.writeTextFile(path, "1000");
      }
      await this.#startBallast(limitBytes - (await this.usage()) + BALLAST_MARGIN, watch);
    }
    return { limitBytes: await this.limit(), usageBytes: held, ballast };
  }

  /**
   * A process in the cgroup, picked by the OOM killer after the targets: it takes up to
   * `bytes`, a MiB at a time, and stops as soon as a process of `watch` is gone; it holds what
   * it took until `lift` (or until the harness is gone: its stdin closes).
   */
  async #startBallast(bytes: number, watch: readonly number[]): Promise<void> {
    const script = `const watch = ${JSON.stringify(watch)};
const gone = (pid) => { try { return Deno.readTextFileSync("/proc/" + pid + "/stat").split(") ")[1][0] === "Z"; } catch { return true; } };
await Deno.stdin.read(new Uint8Array(8));
const held = [];
for (let taken = 0; taken < ${
      Math.max(MiB, Math.round(bytes))
    } && !watch.some(gone); taken += ${MiB}) {
  const chunk = new Uint8Array(${MiB});
  for (let i = 0; i < chunk.length; i += 4096) chunk[i] = 1;
  held.push(chunk);
}
await Deno.stdin.read(new Uint8Array(8));`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#ballast = child;
    await Deno.writeTextFile(join(this.dir, "cgroup.procs"), String(child.pid));
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    writer.releaseLock();
  }

  /**
   * Ends the ballast, then: the harness's cgroup has its processes moved back where they came
   * from and is removed; a container's gets its limit back as it was.
   */
  async lift(): Promise<void> {
    if (this.#ballast) {
      try {
        this.#ballast.kill("SIGKILL");
      } catch { /* ended */ }
      await this.#ballast.status.catch(() => {});
      await this.#ballast.stdin.close().catch(() => {});
      this.#ballast = undefined;
    }
    for (const [pid, score] of this.#scores) {
      await Deno.writeTextFile(`/proc/${pid}/oom_score_adj`, score).catch(() => {}); // gone
    }
    this.#scores.clear();
    if (!this.owned) {
      // A node's or a container's own cgroup may be gone by now (it stopped, e.g. OOM-killed, and
      // the engine removed its cgroup): nothing to put back then (a restart gets a new one).
      const restore = (file: string, text: string | undefined) =>
        text === undefined ? Promise.resolve() : Deno.writeTextFile(file, text).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      await restore(this.#file("memory.limit_in_bytes", "memory.max"), this.#previous);
      await restore(join(this.dir, "memory.oom.group"), this.#previousGroup);
      return;
    }
    await this.#setLimit("none").catch(() => {});
    await leaveCgroup(this.dir, this.origins, this.layout.base);
  }
}

/** Resident bytes of `pids` together (from /proc; a process gone counts nothing). */
export function residentBytes(pids: readonly number[]): number {
  let pages = 0;
  for (const pid of pids) {
    try {
      pages += Number(Deno.readTextFileSync(`/proc/${pid}/statm`).split(" ")[1]);
    } catch { /* gone */ }
  }
  return pages * 4096;
}
