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
 * - **CPU.** A cgroup of the box's own in the v1 `cpu` hierarchy (`chaos-sandbox/<uid>`), joined
 *   by the start script like the memory one, with a low `cpu.shares` (512 unless
 *   `CHAOS_SANDBOX_CPU_SHARES` says otherwise; the boxes' parent `chaos-sandbox` gets the same):
 *   however many busy threads the boxes run, together they weigh under contention what half of
 *   one busy thread of the host does, so the brokers and the harness keep their CPU. Shares only
 *   weigh: an idle host gives a box every core.
 * - **Descriptors.** Each process of a box may open at most `CHAOS_SANDBOX_NOFILE` (4096) files
 *   and sockets (`ulimit -n`, soft and hard, set as root before the box drops its privileges).
 * - **Connections.** The box's processes together may hold at most `CHAOS_SANDBOX_CONNECTIONS`
 *   (512) TCP connections open; one more is reset at once (its firewall chain counts them:
 *   sandbox_network.ts). So a box cannot take the slots of a service it shares with the harness.
 * - **Sockets.** The box's processes together may hold at most `CHAOS_SANDBOX_SOCKETS` (2048)
 *   sockets, bound or not: a run's socket guard (chaos/socket_guard.ts) counts them twice a second
 *   and stops a box past it. Sockets bound without a connection make no packet (the connection
 *   bound never sees them) yet take the host's ephemeral ports.
 *
 * Disk and memory default to 4 GiB; the grader sets them with `CHAOS_SANDBOX_DISK_MB` and
 * `CHAOS_SANDBOX_MEMORY_MB` (`boundsFromEnv`). On a host with cgroup v2 only, the memory and CPU
 * bounds are not enforced (a component's processes must stay in their freezer cgroup there):
 * `memoryBound` and `cpuBound` say why.
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
import { shellQuote } from "./sandbox_mounts.ts";

const MiB = 1024 * 1024;
/** A box's writable space when the grader names none (CHAOS_SANDBOX_DISK_MB). */
export const DEFAULT_DISK_MB = 4096;
/** A box's memory when the grader names none (CHAOS_SANDBOX_MEMORY_MB). */
export const DEFAULT_MEMORY_MB = 4096;
/** The smallest bound either may be set to (a box must hold a copy and start a program). */
export const MIN_BOUND_MB = 16;
/** A box's CPU weight when the grader names none (CHAOS_SANDBOX_CPU_SHARES; the kernel's is 1024). */
export const DEFAULT_CPU_SHARES = 512;
/** Files and sockets a box's process may open, when the grader names no other (CHAOS_SANDBOX_NOFILE). */
export const DEFAULT_NOFILE = 4096;
/**
 * TCP connections a box may hold open at once, all of its processes together, when the grader
 * names no other (CHAOS_SANDBOX_CONNECTIONS): far above what a pipeline's clients open, far below
 * the slots of the services it shares with the harness (Redis's 10,000 clients, the proxies'
 * descriptors).
 */
export const DEFAULT_CONNECTIONS = 512;
/**
 * Sockets a box may hold at once, all of its processes together, when the grader names no other
 * (CHAOS_SANDBOX_SOCKETS): an honest pipeline holds tens to a few hundred; a box past it is
 * stopped by the run's socket guard (chaos/socket_guard.ts), since its sockets take the host's
 * ports (28,232 ephemeral ones by default).
 */
export const DEFAULT_SOCKETS = 2048;
/** The image file inside the box's folder (hidden under the filesystem mounted from it). */
export const DISK_IMAGE = "disk.img";
/** The v1 memory hierarchy's folder of the boxes' cgroups. */
const CGROUP_PARENT = "chaos-sandbox";
const MEMORY_V1 = "/sys/fs/cgroup/memory";
const CPU_V1 = "/sys/fs/cgroup/cpu";

export interface BoxBounds {
  /** The box's writable space (work, HOME, /tmp together), MiB. */
  diskMb: number;
  /** The box's memory (every process of it together, its /dev/shm included), MiB. */
  memoryMb: number;
  /** The box's CPU weight (`cpu.shares`, 2-262144). Default DEFAULT_CPU_SHARES. */
  cpuShares?: number;
  /** Files and sockets each process of the box may open. Default DEFAULT_NOFILE. */
  nofile?: number;
  /** TCP connections the whole box may hold open (its firewall chain). Default DEFAULT_CONNECTIONS. */
  connections?: number;
  /** Sockets the whole box may hold (the run's socket guard stops it past). Default DEFAULT_SOCKETS. */
  sockets?: number;
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

/** A whole number `name` says from `min` to `max`, or `fallback` when unset; else it throws. */
function countFrom(
  name: string,
  value: string | undefined,
  fallback: number,
  [min, max]: [number, number],
): number {
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
    throw new SandboxError(
      `${name}: ${JSON.stringify(value)} is no whole number from ${min} to ${max}`,
    );
  }
  return n;
}

/**
 * The bounds the grader set (`CHAOS_SANDBOX_DISK_MB`, `CHAOS_SANDBOX_MEMORY_MB`,
 * `CHAOS_SANDBOX_CPU_SHARES`, `CHAOS_SANDBOX_NOFILE`, `CHAOS_SANDBOX_CONNECTIONS`,
 * `CHAOS_SANDBOX_SOCKETS`); bad values throw.
 */
export function boundsFromEnv(
  env: { get(name: string): string | undefined } = Deno.env,
): Required<BoxBounds> {
  return {
    diskMb: mbFrom("CHAOS_SANDBOX_DISK_MB", env.get("CHAOS_SANDBOX_DISK_MB"), DEFAULT_DISK_MB),
    memoryMb: mbFrom(
      "CHAOS_SANDBOX_MEMORY_MB",
      env.get("CHAOS_SANDBOX_MEMORY_MB"),
      DEFAULT_MEMORY_MB,
    ),
    cpuShares: countFrom(
      "CHAOS_SANDBOX_CPU_SHARES",
      env.get("CHAOS_SANDBOX_CPU_SHARES"),
      DEFAULT_CPU_SHARES,
      [2, 262144],
    ),
    // At least what a JVM or a Node program opens to start; at most the kernel's nr_open default.
    nofile: countFrom("CHAOS_SANDBOX_NOFILE", env.get("CHAOS_SANDBOX_NOFILE"), DEFAULT_NOFILE, [
      64,
      1048576,
    ]),
    connections: countFrom(
      "CHAOS_SANDBOX_CONNECTIONS",
      env.get("CHAOS_SANDBOX_CONNECTIONS"),
      DEFAULT_CONNECTIONS,
      [16, 65536],
    ),
    sockets: countFrom("CHAOS_SANDBOX_SOCKETS", env.get("CHAOS_SANDBOX_SOCKETS"), DEFAULT_SOCKETS, [
      16,
      1048576,
    ]),
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
  mountExt4Image(dir, image, mb, mkfsArgs(image), ["nosuid", "nodev"]);
  Deno.chmodSync(dir, 0o711);
}

/**
 * Makes `image` a sparse file of `mb` MiB, `mkfs.ext4 <mkfs>` on it, and mounts it on `dir` as a
 * loop device with `options` (lost+found removed: MinIO would take it for a bucket). The image is
 * removed again when that fails. For a box's disk (`mountDisk`) and the store's (store_disk.ts).
 */
export function mountExt4Image(
  dir: string,
  image: string,
  mb: number,
  mkfs: string[],
  options: string[],
): void {
  const file = Deno.openSync(image, { create: true, write: true, mode: 0o600 });
  try {
    file.truncateSync(mb * MiB);
  } finally {
    file.close();
  }
  try {
    mustRun("mkfs.ext4", mkfs);
    // noinit_itable: the image is sparse, its inode tables read as zeros already.
    const o = ["loop", ...options, "noinit_itable"].join(",");
    mustRun("mount", ["-t", "ext4", "-o", o, image, dir]);
  } catch (error) {
    Deno.removeSync(image);
    throw error;
  }
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
  if (dir) await removeBoxCgroup(dir, "memory");
}

/** Kills what is left in the cgroup `dir` (a box's `what` cgroup) and removes it; idempotent. */
async function removeBoxCgroup(dir: string, what: string): Promise<void> {
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
        throw new SandboxError(`cannot remove the sandbox's ${what} cgroup ${dir}`, {
          cause: error,
        });
      }
    }
    // Killed processes leave the cgroup once the kernel has reaped them.
    await sleep(20);
  }
}

/**
 * The cpu cgroup hierarchy boxes are weighted in (the v1 `cpu` one's), or why there is none (on
 * cgroup v2 a box's processes must stay in their component's freezer cgroup).
 */
export function cpuBound(): { base: string } | { problem: string } {
  try {
    Deno.statSync(join(CPU_V1, "cpu.shares"));
    return { base: CPU_V1 };
  } catch {
    return {
      problem: `no cgroup v1 cpu hierarchy with cpu.shares at ${CPU_V1}: the sandbox's CPU ` +
        "weight is not enforced on this host",
    };
  }
}

/** The box `uid`'s cpu cgroup folder (whether or not it exists), or undefined without v1. */
export function cpuCgroupDir(uid: number): string | undefined {
  const bound = cpuBound();
  return "base" in bound ? join(bound.base, CGROUP_PARENT, String(uid)) : undefined;
}

/**
 * Makes the box `uid`'s cpu cgroup weighing `shares`, under a parent weighing `shares` too (the
 * boxes together weigh no more than one of them); its folder, or undefined without v1.
 */
export function makeCpuCgroup(uid: number, shares: number): string | undefined {
  const dir = cpuCgroupDir(uid);
  if (!dir) return undefined;
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeTextFileSync(join(dir, "..", "cpu.shares"), String(shares));
    Deno.writeTextFileSync(join(dir, "cpu.shares"), String(shares));
  } catch (error) {
    throw new SandboxError(`cannot make the sandbox's cpu cgroup ${dir}`, { cause: error });
  }
  return dir;
}

/** The `cpu.shares` of the cgroup `dir` as the kernel reads it back. */
export function readCpuShares(dir: string): number {
  return Number(Deno.readTextFileSync(join(dir, "cpu.shares")).trim());
}

/** Kills what is left in the box `uid`'s cpu cgroup and removes it; idempotent. */
export async function removeCpuCgroup(uid: number): Promise<void> {
  const dir = cpuCgroupDir(uid);
  if (dir) await removeBoxCgroup(dir, "cpu");
}

/**
 * The lines a box's start script runs first, as root: into its cpu cgroup (given one) and its
 * descriptors bounded (`ulimit -n`, soft and hard: the box cannot raise it again). Pure.
 */
export function limitsScript(o: { cpuCgroup?: string; nofile: number }): string {
  const lines = ["set -e"];
  if (o.cpuCgroup) lines.push(`echo $$ >${shellQuote(join(o.cpuCgroup, "cgroup.procs"))}`);
  lines.push(`ulimit -n ${Math.floor(o.nofile)}`);
  return lines.join("\n");
}
