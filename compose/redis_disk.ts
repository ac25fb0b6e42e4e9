/**
 * Redis's disk: on the local stack, Redis's folder (`<dataDir>/redis`: its append-only file,
 * written and fsynced on every write) is an ext4 filesystem of its own (service_disk.ts), so that
 * a pipeline that overwrites big values in a loop fills Redis's disk, not the grader's (each AOF
 * rewrite leaves the old base and increments beside the new ones: 3 x 15 MB overwritten in a loop
 * grew the AOF to 3.5 GiB in 30 s). Redis then fails its writes (with `appendfsync always` it
 * exits: "Can't recover from AOF write error"), and the harness can still write the run folder.
 * `redisFull` says so while the stack is up, for the verdict: the harness's own use of Redis is
 * small (the built-in detector's dedupe keys, the guard's probes), so a full Redis disk in a
 * graded run is the pipeline's doing.
 *
 * The bound is `CHAOS_REDIS_DISK_MB` (default 3 x Redis's maxmemory, 3 GiB: what an AOF rewrite
 * of a full Redis needs; `0`: none), made smaller when the host has not that much free beyond a
 * reserve of 1 GiB and the other disks of this process. Without root or mkfs.ext4 there is none:
 * `mountRedisDisk` says why, `redisDiskGaps` tells the grade. Unmounted with the stack's other
 * disks (disk.ts: `unmountUnder`, and the watchdog's script when the harness dies); its AOF is
 * not kept.
 *
 * ```ts
 * import { mountRedisDisk, redisDiskMbFromEnv, redisFull } from "./redis_disk.ts";
 * mountRedisDisk("/run/x/stack/redis", redisDiskMbFromEnv()); // { mb } or { problem }
 * await redisFull("/run/x/stack", "redis://:secret@127.0.0.1:29020"); // undefined, or a finding
 * ```
 * @module
 */

import { join } from "node:path";
import { redisAddress, redisCommands } from "./redis_wire.ts";
import { diskMbFromEnv, type DiskSpace, diskSpaceOf, mountServiceDisk } from "./service_disk.ts";
import { REDIS_MAXMEMORY_MB } from "./stack.ts";

/** Redis's disk when the grader names none (CHAOS_REDIS_DISK_MB): an AOF rewrite's room. */
export const DEFAULT_REDIS_DISK_MB = 3 * REDIS_MAXMEMORY_MB;
/** The smallest Redis disk worth making. */
export const MIN_REDIS_DISK_MB = 64;
/** The image file in Redis's folder, under the filesystem mounted from it. */
export const REDIS_IMAGE = ".chaos-redis.img";
/** Below this much free (or 1% of the disk), Redis's disk is full: the largest value (16 MB) no
 * longer fits. */
const FULL_BELOW_MB = 17;

const REDIS_DISK = {
  minMb: MIN_REDIS_DISK_MB,
  copies: 1, // not copied out at teardown
  image: REDIS_IMAGE,
  label: "chaos-redis",
  bytesPerInode: 65536, // a manifest, a base and an increment file
  envName: "CHAOS_REDIS_DISK_MB",
  what: "Redis's disk",
};

/** Redis's disk size the grader set (`CHAOS_REDIS_DISK_MB`, 0: none); bad values throw. */
export function redisDiskMbFromEnv(
  env: { get(name: string): string | undefined } = Deno.env,
): number {
  return diskMbFromEnv(
    "CHAOS_REDIS_DISK_MB",
    { fallback: DEFAULT_REDIS_DISK_MB, minMb: MIN_REDIS_DISK_MB },
    env,
  );
}

/**
 * Mounts Redis's disk of (at most) `mb` MiB over its empty folder `dir`; what it made, or why
 * there is none (`mb` 0, not root, no mkfs.ext4, the folder a disk already, a full host).
 */
export function mountRedisDisk(dir: string, mb: number): { mb: number } | { problem: string } {
  return mountServiceDisk(dir, { ...REDIS_DISK, mb });
}

/** The write errors `INFO persistence` reports (`aof_last_write_status:err`, …). Pure. */
export function persistenceErrors(info: string): string[] {
  return info.split(/\r?\n/).map((l) => l.trim())
    .filter((l) => /^(aof_last_write_status|aof_last_bgrewrite_status):err$/.test(l));
}

/** Redis's log lines that say its disk refused a write. */
const DISK_ERROR = /No space left on device|Short write while writing to the AOF file/;

/** The last line of Redis's log that says its disk refused a write, if any. Pure. */
export function diskErrorLine(log: string): string | undefined {
  return log.split("\n").findLast((l) => DISK_ERROR.test(l))?.trim();
}

/** What `redisFinding` weighs. */
export interface RedisDiskEvidence {
  /** The disk's space at the verdict. */
  space: DiskSpace;
  /** `persistenceErrors` of `INFO persistence`; undefined: Redis did not answer. */
  errors?: string[];
  /** `diskErrorLine` of Redis's log. */
  logLine?: string;
}

/**
 * The finding when Redis's disk was full: under 17 MiB or 1% free at the verdict, or a write that
 * failed (`aof_last_write_status:err`, or its log's "No space left on device"); else undefined.
 * A failed AOF rewrite alone (`aof_last_bgrewrite_status:err`) is no proof: a fork refused for
 * memory fails it too. Pure.
 */
export function redisFinding(e: RedisDiskEvidence): string | undefined {
  const s = e.space;
  const low = s.freeMb < Math.max(FULL_BELOW_MB, s.sizeMb / 100);
  const writeFailed = e.errors?.includes("aof_last_write_status:err") ?? false;
  if (!low && !writeFailed && !e.logLine) return undefined;
  const evidence = [
    `the disk ${s.sizeMb} MiB (CHAOS_REDIS_DISK_MB), ${s.usedMb} MiB used, ${s.freeMb} MiB free`,
    e.errors === undefined
      ? "Redis did not answer INFO"
      : `INFO persistence: ${e.errors.length ? e.errors.join(", ") : "no write error"}`,
    ...(e.logLine ? [`its log: "${e.logLine.slice(0, 300)}"`] : []),
  ];
  return `Redis's disk full: the pipeline filled it (${evidence.join("; ")}); Redis's ` +
    "append-only file could not take its writes";
}

/**
 * The finding when the Redis disk of the stack at `dataDir` (`<dataDir>/redis`, mounted by this
 * process) was full, asking Redis at `url` for its persistence status (2 s at most) and reading
 * its log (`<dataDir>/logs/redis.log`); undefined when it was not, or there is no such disk.
 * Never throws.
 */
export async function redisFull(dataDir: string, url: string): Promise<string | undefined> {
  const space = diskSpaceOf(join(dataDir, "redis"));
  if (!space) return undefined;
  let errors: string[] | undefined;
  try {
    const [reply] = await redisCommands(redisAddress(url), [["INFO", "persistence"]], {
      timeoutMs: 2000,
    });
    if (reply?.type === "$") errors = persistenceErrors(reply.text);
  } catch { /* Redis is down (it exits on an AOF write error): its log says why */ }
  const logLine = await readTail(join(dataDir, "logs", "redis.log"), 1024 * 1024)
    .then(diskErrorLine, () => undefined);
  return redisFinding({ space, errors, logLine });
}

/** The last `bytes` of a file, as text. */
async function readTail(path: string, bytes: number): Promise<string> {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  await file.seek(Math.max(0, size - bytes), Deno.SeekMode.Start);
  const buf = new Uint8Array(Math.min(size, bytes));
  let read = 0;
  while (read < buf.length) {
    const n = await file.read(buf.subarray(read));
    if (n === null) break;
    read += n;
  }
  return new TextDecoder().decode(buf.subarray(0, read));
}

/** Why stacks of this process had no Redis disk (each said once), for a grade to record. */
const gaps = new Set<string>();

/** Records what `mountRedisDisk` said (a problem, `CHAOS_REDIS_DISK_MB=0` too). */
export function noteRedisDisk(result: { mb: number } | { problem: string }): void {
  if ("problem" in result) gaps.add(`Redis's disk not bounded: ${result.problem}`);
}

/** What Redis's disk lacked on this host so far (see `noteRedisDisk`). */
export function redisDiskGaps(): string[] {
  return [...gaps];
}
