/**
 * CPU limits on process trees through Linux control groups, for the `cpu`
 * fault on the local stack: the target's processes move into a cgroup of the
 * harness with a CFS quota (`cores` of a core), and back into the cgroup each
 * came from when the limit is lifted. cgroup v1 (`cpu` controller:
 * `cpu.cfs_quota_us`) and v2 (`cpu.max`) are both supported; without either,
 * or without the right to write them (root), `cpuLimitProblem` says why.
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

import { join } from "node:path";

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
 * meanwhile is skipped).
 */
export async function joinCgroup(
  dir: string,
  layout: Layout,
  controller: string,
  pids: readonly number[],
  origins: Map<number, string>,
): Promise<void> {
  for (const pid of pids) {
    let origin: string;
    try {
      origin = join(layout.base, cgroupOf(pid, layout.version, controller));
    } catch {
      continue; // gone meanwhile
    }
    await Deno.writeTextFile(join(dir, "cgroup.procs"), String(pid));
    origins.set(pid, origin);
  }
}

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

  /** Moves `pids` into a cgroup named `name` limited to `cores`. */
  static async apply(name: string, pids: readonly number[], cores: number): Promise<CpuLimit> {
    const layout = cpuCgroup();
    if (!layout) throw new Error(cpuLimitProblem());
    const dir = await makeCgroup(layout, "cpu", name);
    const quota = Math.max(1000, Math.round(cores * PERIOD_US));
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
    if (v2 !== undefined) {
      const [quota, period] = v2.trim().split(/\s+/);
      return quota === "max" ? Infinity : Number(quota) / Number(period);
    }
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
