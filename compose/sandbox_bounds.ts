/**
 * The bounds of a sandbox's box (compose/sandbox.ts) beyond its processes:
 *
 * - **Disk.** The box's folder (`<base>/<uid>`: its work folder, HOME and /tmp, the only places it
 *   writes) is an ext4 filesystem of its own, on a sparse image file on a loop device mounted
 *   over the folder (the image lies in the folder, under the mount). A box that fills it gets
 *   ENOSPC; the host's disk loses at most the bound. Unmounting frees the loop device
 *   (`autoclear`), removing the folder frees the image.
 * - **Memory.** A memory cgroup of the box's own (`chaos-sandbox/<uid>` of the v1 `memory`
 *   hierarchy, `memory.limit_in_bytes`, swap included where `memsw` is on) that the box's start
 *   script joins before anything else: past the bound the kernel's OOM killer kills inside the
 *   box only, and `memoryEvidence` says so (`oom_kill`, the peak). Its processes are also the
 *   first the host's OOM killer takes (`oom_score_adj` 1000, which the box cannot lower).
 *
 * Both default to 4 GiB; the grader sets them with `CHAOS_SANDBOX_DISK_MB` and
 * `CHAOS_SANDBOX_MEMORY_MB` (`boundsFromEnv`). On a host with cgroup v2 only, the memory bound
 * is not enforced (a component's processes must stay in their freezer cgroup there): `memoryBound`
 * says why.
 *
 * ```ts
 * import { boundsFromEnv, makeMemoryCgroup, mountDisk, removeMemoryCgroup, unmountDisk } from "./sandbox_bounds.ts";
 * const bounds = boundsFromEnv();
 * mountDisk("/var/lib/chaos-sandbox/61234", bounds.diskMb);
 * const cgroup = makeMemoryCgroup(61234, bounds.memoryMb); // the box's start script joins it
 * await removeMemoryCgroup(61234);
 * unmountDisk("/var/lib/chaos-sandbox/61234");
 * ```
 * @module
 */

import { join } from "node:path";
import { sleep } from "../lib/wait.ts";
import { mustRun, run, SandboxError } from "./sandbox_error.ts";

const MiB = 1024 * 1024;
/** A box's writable space when the grader names none (CHAOS_SANDBOX_DISK_MB). */
export const DEFAULT_DISK_MB = 4096;
/** A box's memory when the grader names none (CHAOS_SANDBOX_MEMORY_MB). */
export const DEFAULT_MEMORY_MB = 4096;
/** The smallest bound either may be set to (a box must hold a copy and start a program). */
export const MIN_BOUND_MB = 16;
/** The image file inside the box's folder (hidden under the filesystem mounted from it). */
export const DISK_IMAGE = "disk.img";
/** The v1 memory hierarchy's folder of the boxes' cgroups. */
const CGROUP_PARENT = "chaos-sandbox";
const MEMORY_V1 = "/sys/fs/cgroup/memory";

export interface BoxBounds {
  /** The box's writable space (work, HOME, /tmp together), MiB. */
  diskMb: number;
  /** The box's memory (every process of it together, its /dev/shm included), MiB. */
  memoryMb: number;
}

function mbFrom(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === "") return fallback;
  const mb = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || mb < MIN_BOUND_MB || mb > 1024 * 1024) {
    throw new SandboxError(
      `${name}: ${JSON.stringify(value)} is no size in MiB from ${MIN_BOUND_MB} to 1048576`,
    );
  }
  return mb;
}

/** The bounds the grader set (`CHAOS_SANDBOX_DISK_MB`, `CHAOS_SANDBOX_MEMORY_MB`); bad values throw. */
export function boundsFromEnv(
  env: { get(name: string): string | undefined } = Deno.env,
): BoxBounds {
  return {
    diskMb: mbFrom("CHAOS_SANDBOX_DISK_MB", env.get("CHAOS_SANDBOX_DISK_MB"), DEFAULT_DISK_MB),
    memoryMb: mbFrom(
      "CHAOS_SANDBOX_MEMORY_MB",
      env.get("CHAOS_SANDBOX_MEMORY_MB"),
      DEFAULT_MEMORY_MB,
    ),
  };
}

/** `mkfs.ext4`'s arguments for a box's image: no journal, nothing reserved, lazy tables. */
export function mkfsArgs(image: string): string[] {
  return [
    "-q",
    "-F",
    "-m",
    "0",
    "-O",
    "^has_journal",
    "-E",
    "lazy_itable_init=1,nodiscard",
    "-L",
    "chaos-sandbox",
    image,
  ];
}

/** Mount points of this mount namespace (octal escapes of /proc/self/mountinfo decoded). */
function mountPoints(): string[] {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  return text.split("\n").filter(Boolean).map((l) =>
    l.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))
  );
}

/** True when `dir` is a mount point here. */
export function isMounted(dir: string): boolean {
  return mountPoints().includes(dir);
}

/** MiB free on the filesystem that holds `dir`. */
function freeMb(dir: string): number {
  const out = mustRun("df", ["-B1", "--output=avail", dir]).split("\n").at(-1) ?? "";
  return Math.floor(Number(out.trim()) / MiB);
}

/**
 * Mounts a fresh ext4 filesystem of `mb` MiB over the empty folder `dir` (root's, 0711 after),
 * its sparse image inside `dir` under the mount. Refuses when the host has less free than `mb`.
 */
export function mountDisk(dir: string, mb: number): void {
  const free = freeMb(dir);
  if (free < mb) {
    throw new SandboxError(
      `a sandbox's disk of ${mb} MiB does not fit in the ${free} MiB free under ${dir} ` +
        `(set CHAOS_SANDBOX_DISK_MB lower, or free space)`,
    );
  }
  const image = join(dir, DISK_IMAGE);
  const file = Deno.openSync(image, { create: true, write: true, mode: 0o600 });
  try {
    file.truncateSync(mb * MiB);
  } finally {
    file.close();
  }
  mustRun("mkfs.ext4", mkfsArgs(image));
  // noinit_itable: the image is sparse, its inode tables read as zeros already.
  mustRun("mount", ["-t", "ext4", "-o", "loop,nosuid,nodev,noinit_itable", image, dir]);
  Deno.chmodSync(dir, 0o711);
  Deno.removeSync(join(dir, "lost+found"));
}

/**
 * Unmounts the box's filesystem from `dir` (lazily when busy) and detaches any loop device still
 * on its image; idempotent. The folder and its image stay (the caller removes them).
 */
export function unmountDisk(dir: string): void {
  while (isMounted(dir)) {
    if (run("umount", [dir]).code !== 0) mustRun("umount", ["-l", dir]);
  }
  const image = join(dir, DISK_IMAGE);
  for (const line of run("losetup", ["-j", image]).out.split("\n")) {
    const dev = /^(\/dev\/loop\d+):/.exec(line)?.[1];
    if (dev) run("losetup", ["-d", dev]);
  }
}

/**
 * The memory cgroup boxes are made in (the v1 `memory` hierarchy's), or why there is none. On
 * cgroup v2 a box's processes cannot be in a memory cgroup of the box and in their component's
 * freezer cgroup at once.
 */
export function memoryBound(): { base: string } | { problem: string } {
  try {
    Deno.statSync(join(MEMORY_V1, "memory.limit_in_bytes"));
    return { base: MEMORY_V1 };
  } catch {
    return {
      problem: `no cgroup v1 memory hierarchy at ${MEMORY_V1}: the sandbox's memory bound is ` +
        "not enforced on this host",
    };
  }
}

/** The box `uid`'s memory cgroup folder (whether or not it exists), or undefined without v1. */
export function memoryCgroupDir(uid: number): string | undefined {
  const bound = memoryBound();
  return "base" in bound ? join(bound.base, CGROUP_PARENT, String(uid)) : undefined;
}

/** Makes the box `uid`'s memory cgroup limited to `mb` MiB (swap too); its folder, or undefined. */
export function makeMemoryCgroup(uid: number, mb: number): string | undefined {
  const dir = memoryCgroupDir(uid);
  if (!dir) return undefined;
  try {
    Deno.mkdirSync(dir, { recursive: true });
    const bytes = String(mb * MiB);
    Deno.writeTextFileSync(join(dir, "memory.limit_in_bytes"), bytes);
    // With swap accounting on, memory and swap together: the box cannot page out past it.
    try {
      Deno.writeTextFileSync(join(dir, "memory.memsw.limit_in_bytes"), bytes);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  } catch (error) {
    throw new SandboxError(`cannot make the sandbox's memory cgroup ${dir}`, { cause: error });
  }
  return dir;
}

/** What a box's memory cgroup says: its bound, its peak, how many of its processes were OOM-killed. */
export interface MemoryEvidence {
  limitMb: number;
  peakMb: number;
  oomKills: number;
}

/** The box `uid`'s memory evidence, read from its cgroup (undefined when there is none). */
export function memoryEvidence(uid: number): MemoryEvidence | undefined {
  const dir = memoryCgroupDir(uid);
  if (!dir) return undefined;
  try {
    const read = (f: string) => Deno.readTextFileSync(join(dir, f));
    const oom = /^oom_kill\s+(\d+)/m.exec(read("memory.oom_control"))?.[1];
    return {
      limitMb: Math.round(Number(read("memory.limit_in_bytes")) / MiB),
      peakMb: Math.round(Number(read("memory.max_usage_in_bytes")) / MiB),
      oomKills: Number(oom ?? 0),
    };
  } catch {
    return undefined;
  }
}

/**
 * One line of evidence for a box whose processes were OOM-killed (`who`: "the sink's sandbox"),
 * counting the kills after the first `since`; undefined without one.
 */
export function oomLine(
  who: string,
  e: MemoryEvidence | undefined,
  since = 0,
): string | undefined {
  if (!e || e.oomKills <= since) return undefined;
  return `${who} reached its memory bound of ${e.limitMb} MiB (CHAOS_SANDBOX_MEMORY_MB): the ` +
    `kernel's OOM killer killed ${e.oomKills - since} of its processes (peak ${e.peakMb} MiB)`;
}

/** Kills what is left in the box `uid`'s memory cgroup and removes it; idempotent. */
export async function removeMemoryCgroup(uid: number): Promise<void> {
  const dir = memoryCgroupDir(uid);
  if (!dir) return;
  for (let round = 0; round < 50; round++) {
    let pids: string[];
    try {
      pids = Deno.readTextFileSync(join(dir, "cgroup.procs")).split("\n").filter(Boolean);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const pid of pids) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
    try {
      Deno.removeSync(dir);
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      if (round === 49) {
        throw new SandboxError(`cannot remove the sandbox's memory cgroup ${dir}`, {
          cause: error,
        });
      }
    }
    // Killed processes leave the cgroup once the kernel has reaped them.
    await sleep(20);
  }
}
