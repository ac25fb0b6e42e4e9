/**
 * CPU limits on process trees through Linux control groups, for the `cpu`
 * fault on the local stack: the target's processes move into a cgroup of the
 * harness with a CFS quota (`cores` of a core), and back into the cgroup each
 * came from when the limit is lifted. cgroup v1 (`cpu` controller:
 * `cpu.cfs_quota_us`) and v2 (`cpu.max`) are both supported; without either,
 * or without the right to write them (root), `cpuLimitProblem` says why.
 *
 * A node with a cgroup of its own (a pipeline component, freezer.ts) is limited
 * as that cgroup: on v1 the cpu hierarchy is apart from the freezer's, so every
 * member moves (`joinCgroup` given a list to follow: a member forked while the
 * others move is moved too, what forks later inherits the cgroup); on v2 moving
 * would take them out of their freezer cgroup, so the quota is set on the
 * node's own cgroup instead (`limitCpuInPlace`).
 *
 * The cgroup plumbing any controller needs lives here too (finding the
 * hierarchy, making a cgroup of the harness, moving processes in and back
 * out); memory.ts uses it for the `memory` fault.
 *
 * ```ts
 * const limit = await CpuLimit.apply("run-kafka-1", pids, 0.2);
 * // ... the fault ...
 * await limit.lift();
 * ```
 * @module
 */

import { join, relative } from "node:path";

const ROOT = "/sys/fs/cgroup";
const PERIOD_US = 100_000;

export type Layout = { version: 1 | 2; base: string };

/** A CPU limit in force on a node: `cores` as read back, lifted by `lift()`. */
export interface CpuLimitHandle {
  cores: number;
  lift(): Promise<void>;
}

const isFile = (p: string) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
};

/**
 * Where cgroups of `controller` can be made on this host, or null: cgroup v2 when the unified
 * hierarchy lists it, else the v1 hierarchy among `v1Dirs` that has `v1File`.
 */
export function controllerLayout(
  controller: string,
  v1File: string,
  v1Dirs: readonly string[] = [controller],
): Layout | null {
  if (isFile(join(ROOT, "cgroup.controllers"))) {
    const controllers = Deno.readTextFileSync(join(ROOT, "cgroup.controllers"));
    return controllers.split(/\s+/).includes(controller) ? { version: 2, base: ROOT } : null;
  }
  for (const dir of v1Dirs) {
    if (isFile(join(ROOT, dir, v1File))) return { version: 1, base: join(ROOT, dir) };
  }
  return null;
}

/** Where CPU limits can be made on this host, or null. */
export function cpuCgroup(): Layout | null {
  return controllerLayout("cpu", "cpu.cfs_quota_us", ["cpu", "cpu,cpuacct"]);
}

/**
 * Why the `fault` fault cannot make cgroups with `layout` here (`needs` names the controller
 * files it wants), or undefined when it can.
 */
export function cgroupProblem(
  fault: string,
  layout: Layout | null,
  needs: string,
): string | undefined {
  if (!layout) return `the ${fault} fault needs ${needs}, and this host has neither`;
  try {
    Deno.mkdirSync(join(layout.base, "chaos-harness"), { recursive: true });
  } catch (error) {
    return `the ${fault} fault cannot make a cgroup under ${layout.base} (${
      (error as Error).message
    }); it needs root`;
  }
  return undefined;
}

/** Why a CPU limit cannot be made here, or undefined when it can. */
export function cpuLimitProblem(): string | undefined {
  return cgroupProblem(
    "cpu",
    cpuCgroup(),
    "a cgroup cpu controller (cgroup v1 cpu.cfs_quota_us or v2 cpu.max)",
  );
}

/** The cgroup (path below the controller's root) `pid` is in now, for `controller`. */
export function cgroupOf(pid: number, version: 1 | 2, controller: string): string {
  const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n");
  for (const line of lines) {
    const [, controllers, path] = line.split(":");
    if (path === undefined) continue;
    if (version === 2 ? controllers === "" : controllers.split(",").includes(controller)) {
      return path;
    }
  }
  return "/";
}

/** Makes the cgroup `chaos-harness/<name>` for `controller` (v2: the controller enabled for it). */
export async function makeCgroup(
  layout: Layout,
  controller: string,
  name: string,
): Promise<string> {
  const parent = join(layout.base, "chaos-harness");
  const dir = join(parent, name.replace(/[^\w.-]/g, "_"));
  await Deno.mkdir(dir, { recursive: true });
  if (layout.version === 2) {
    for (const at of [layout.base, parent]) {
      await Deno.writeTextFile(join(at, "cgroup.subtree_control"), `+${controller}`)
        .catch(() => {});
    }
  }
  return dir;
}

/** Pids in the cgroup `dir` now. */
export async function cgroupMembers(dir: string): Promise<number[]> {
  const text = await Deno.readTextFile(join(dir, "cgroup.procs")).catch(() => "");
  return text.split("\n").filter(Boolean).map(Number);
}

/**
 * Moves `pids` into the cgroup `dir`, recording in `origins` where each came from (a pid gone
 * meanwhile is skipped). Given a function (a node cgroup's members now), it is asked again until
 * every pid it names is in `dir`: a member forked by one not moved yet is moved too.
 */
export async function joinCgroup(
  dir: string,
  layout: Layout,
  controller: string,
  pids: readonly number[] | (() => number[]),
  origins: Map<number, string>,
): Promise<void> {
  const rounds = typeof pids === "function" ? 10 : 1;
  for (let round = 0; round < rounds; round++) {
    const inside = new Set(await cgroupMembers(dir));
    const todo = (typeof pids === "function" ? pids() : pids).filter((p) => !inside.has(p));
    if (todo.length === 0) return;
    for (const pid of todo) {
      let origin: string;
      try {
        origin = join(layout.base, cgroupOf(pid, layout.version, controller));
      } catch {
        continue; // gone meanwhile
      }
      try {
        await Deno.writeTextFile(join(dir, "cgroup.procs"), String(pid));
      } catch (error) {
        if (processGone(pid)) continue;
        throw error;
      }
      if (!origins.has(pid)) origins.set(pid, origin);
    }
  }
  if (typeof pids === "function") {
    const inside = new Set(await cgroupMembers(dir));
    const out = pids().filter((p) => !inside.has(p) && !processGone(p));
    if (out.length > 0) {
      throw new Error(`pid(s) ${out.join(", ")} kept out of ${dir}: they fork faster than moved`);
    }
  }
}

const processGone = (pid: number) => {
  try {
    Deno.statSync(`/proc/${pid}`);
    return false;
  } catch {
    return true;
  }
};

/**
 * cgroup v2: enables `controller` for every cgroup from `base` down to `dir` (a controller's
 * files show in a cgroup only when its parent's `cgroup.subtree_control` lists it).
 */
export async function enableController(
  base: string,
  dir: string,
  controller: string,
): Promise<void> {
  let at = base;
  for (const part of relative(base, dir).split("/").filter(Boolean)) {
    await Deno.writeTextFile(join(at, "cgroup.subtree_control"), `+${controller}`)
      .catch(() => {}); // already on, or refused: the controller's file then says
    at = join(at, part);
  }
}

/** Cores of a `cpu.max` text (`<quota> <period>`; `max`: Infinity). */
export function parseCpuMax(text: string): number {
  const [quota, period] = text.trim().split(/\s+/);
  return quota === "max" ? Infinity : Number(quota) / Number(period);
}

/**
 * cgroup v2: a CPU quota of `cores` on the cgroup `dir` itself (a node's own, whose members stay
 * where they are); `lift` puts back what `cpu.max` said before (a cgroup gone meanwhile: nothing).
 */
export async function limitCpuInPlace(
  base: string,
  dir: string,
  cores: number,
): Promise<CpuLimitHandle> {
  await enableController(base, dir, "cpu");
  const file = join(dir, "cpu.max");
  let previous: string;
  try {
    previous = (await Deno.readTextFile(file)).trim();
  } catch (error) {
    throw new Error(`cannot limit the CPU of ${dir}: it has no cpu.max (${error})`);
  }
  await Deno.writeTextFile(file, `${quotaUs(cores)} ${PERIOD_US}`);
  return {
    cores: parseCpuMax(await Deno.readTextFile(file)),
    lift: async () => {
      await Deno.writeTextFile(file, previous).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    },
  };
}

/** A quota of `cores` in microseconds per `PERIOD_US` (at least 1 ms: the kernel's minimum). */
const quotaUs = (cores: number) => Math.max(1000, Math.round(cores * PERIOD_US));

/**
 * Moves every process still in the cgroup `dir` back where it came from (one started inside
 * it, a child, goes where the first came from, or to the root), then removes the cgroup.
 */
export async function leaveCgroup(
  dir: string,
  origins: ReadonlyMap<number, string>,
  root: string,
): Promise<void> {
  const fallback = [...origins.values()][0] ?? root;
  for (let round = 0; round < 5; round++) {
    const left = await cgroupMembers(dir);
    if (left.length === 0) break;
    for (const pid of left) {
      await Deno.writeTextFile(join(origins.get(pid) ?? fallback, "cgroup.procs"), String(pid))
        .catch(() => {}); // gone meanwhile
    }
  }
  await Deno.remove(dir).catch(() => {});
}

export class CpuLimit {
  private constructor(
    readonly dir: string,
    /** pid -> the cgroup it came from (absolute directory). */
    readonly origins: Map<number, string>,
  ) {}

  /**
   * Moves `pids` into a cgroup named `name` limited to `cores` (a function: a node cgroup's
   * members, followed as `joinCgroup` says).
   */
  static async apply(
    name: string,
    pids: readonly number[] | (() => number[]),
    cores: number,
  ): Promise<CpuLimit> {
    const layout = cpuCgroup();
    if (!layout) throw new Error(cpuLimitProblem());
    const dir = await makeCgroup(layout, "cpu", name);
    const quota = quotaUs(cores);
    if (layout.version === 1) {
      await Deno.writeTextFile(join(dir, "cpu.cfs_period_us"), String(PERIOD_US));
      await Deno.writeTextFile(join(dir, "cpu.cfs_quota_us"), String(quota));
    } else {
      await Deno.writeTextFile(join(dir, "cpu.max"), `${quota} ${PERIOD_US}`);
    }
    const origins = new Map<number, string>();
    const limit = new CpuLimit(dir, origins);
    try {
      await joinCgroup(dir, layout, "cpu", pids, origins);
    } catch (error) {
      await limit.lift();
      throw error;
    }
    return limit;
  }

  /** The quota as the kernel reads it back, in cores. */
  async readBack(): Promise<number> {
    const v2 = await Deno.readTextFile(join(this.dir, "cpu.max")).catch(() => undefined);
    if (v2 !== undefined) return parseCpuMax(v2);
    const quota = Number(await Deno.readTextFile(join(this.dir, "cpu.cfs_quota_us")));
    const period = Number(await Deno.readTextFile(join(this.dir, "cpu.cfs_period_us")));
    return quota < 0 ? Infinity : quota / period;
  }

  /** Pids in the limited cgroup now. */
  members(): Promise<number[]> {
    return cgroupMembers(this.dir);
  }

  /** Moves every process still in the cgroup back where it came from, then removes it. */
  lift(): Promise<void> {
    return leaveCgroup(this.dir, this.origins, join(this.dir, "..", ".."));
  }
}
