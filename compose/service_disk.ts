/**
 * A service's bounded disk on the local stack: the service's data folder is an ext4 filesystem
 * of its own, on a sparse image on a loop device mounted over the folder (the image lies in the
 * folder, under the mount), so that a pipeline that makes the service write without end fills
 * that disk, not the grader's. What MinIO's store (store_disk.ts) and Redis's append-only file
 * (redis_disk.ts) share: the size from the environment, the size fitted to what the host has
 * free (the disks this process mounted and did not fill yet count as taken), the mount, and the
 * space left on a disk of this process's, for the verdict.
 *
 * ```ts
 * import { diskSpaceOf, mountServiceDisk } from "./service_disk.ts";
 * const disk = mountServiceDisk("/run/x/stack/redis", {
 *   mb: 3072, minMb: 256, copies: 1, image: ".chaos-redis.img", label: "chaos-redis",
 *   bytesPerInode: 65536, what: "Redis's disk",
 * }); // { mb } or { problem }
 * diskSpaceOf("/run/x/stack/redis"); // { sizeMb, usedMb, freeMb, inodesFree } or undefined
 * ```
 * @module
 */

import { join } from "node:path";
import { isMounted } from "./disk.ts";
import { mountExt4Image } from "./sandbox_bounds.ts";

const MiB = 1024 * 1024;
/** What the host keeps free beyond the services' disks and their copies (the run folder, the reports). */
export const HOST_RESERVE_MB = 1024;

/** How to make one service's disk. */
export interface ServiceDiskOptions {
  /** The size wanted in MiB; 0: none. */
  mb: number;
  /** The smallest worth making: below it, none. */
  minMb: number;
  /** How many times the disk's size the host must have free: 2 when `down` copies it out. */
  copies: number;
  /** The image's file name in the folder (under the filesystem mounted from it). */
  image: string;
  /** The filesystem's label. */
  label: string;
  /** An inode per this many bytes (MinIO takes a folder and a file per object; Redis few files). */
  bytesPerInode: number;
  /** The environment variable that sets `mb`, for the problems said. */
  envName: string;
  /** What the disk is, for the problems said: "the store's disk". */
  what: string;
}

/** Reads a disk's size in MiB from `name`: `fallback` when unset, 0 or `minMb`..1 TiB; else throws. */
export function diskMbFromEnv(
  name: string,
  o: { fallback: number; minMb: number },
  env: { get(name: string): string | undefined } = Deno.env,
): number {
  const value = env.get(name);
  if (value === undefined || value.trim() === "") return o.fallback;
  const mb = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || (mb !== 0 && mb < o.minMb) || mb > 1024 * 1024) {
    throw new Error(
      `${name}: ${JSON.stringify(value)} is neither 0 (no disk) nor a size in MiB from ` +
        `${o.minMb} to 1048576`,
    );
  }
  return mb;
}

/**
 * The size to give a disk of `copies` with `freeMb` free on the host, for a wanted `mb`: at
 * most what is free beyond the reserve, divided by `copies`; 0 when that is below `minMb`. Pure.
 */
export function fittedDiskMb(
  mb: number,
  freeMb: number,
  o: { copies: number; minMb: number },
): number {
  const fits = Math.floor((freeMb - HOST_RESERVE_MB) / o.copies);
  const size = Math.min(mb, fits);
  return size >= o.minMb ? size : 0;
}

/** `mkfs.ext4`'s arguments for a service's image: no journal, nothing reserved, lazy tables. */
export function ext4MkfsArgs(image: string, o: { label: string; bytesPerInode: number }): string[] {
  return [
    "-q",
    "-F",
    "-m",
    "0",
    "-i",
    String(o.bytesPerInode),
    "-O",
    "^has_journal",
    "-E",
    "lazy_itable_init=1,nodiscard",
    "-L",
    o.label,
    image,
  ];
}

function run(cmd: string, args: string[]): { code: number; out: string } {
  try {
    const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
    const dec = new TextDecoder();
    return { code: o.code, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).trim() };
  } catch (error) {
    return { code: 127, out: (error as Error).message };
  }
}

function mustRun(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.out}`);
  return r.out;
}

/** Size, used and free MiB, and free inodes, of the filesystem holding `dir`. */
export interface DiskSpace {
  sizeMb: number;
  usedMb: number;
  freeMb: number;
  inodesFree: number;
}

function space(dir: string): DiskSpace {
  const line = mustRun("df", ["-B1", "--output=size,used,avail,iavail", dir]).split("\n").at(-1);
  const [size, used, avail, inodes] = (line ?? "").trim().split(/\s+/).map(Number);
  const mb = (n: number) => Math.floor(n / MiB);
  return { sizeMb: mb(size), usedMb: mb(used), freeMb: mb(avail), inodesFree: inodes };
}

/** The disks this process mounted, by folder, with their sizes (MiB). */
const mounted = new Map<string, number>();

/** What the disks this process mounted may still take of the host (their sizes less their use). */
function promisedMb(): number {
  let total = 0;
  for (const [dir, mb] of mounted) {
    if (!isMounted(dir)) {
      mounted.delete(dir);
      continue;
    }
    try {
      total += Math.max(0, mb - space(dir).usedMb);
    } catch {
      total += mb;
    }
  }
  return total;
}

/**
 * Mounts a service's disk of (at most) `o.mb` MiB over the empty folder `dir`; what it made, or
 * why there is none (`mb` 0, not root, no mkfs.ext4, the folder a disk already, a full host).
 */
export function mountServiceDisk(
  dir: string,
  o: ServiceDiskOptions,
): { mb: number } | { problem: string } {
  if (o.mb === 0) return { problem: `${o.envName}=0` };
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    return { problem: `${o.what} needs root on Linux (a loop mount)` };
  }
  if (isMounted(dir)) return { problem: `${dir} is a disk already` };
  if (run("mkfs.ext4", ["-V"]).code === 127) return { problem: "no mkfs.ext4 (e2fsprogs)" };
  const size = fittedDiskMb(o.mb, space(dir).freeMb - promisedMb(), o);
  if (size === 0) {
    return { problem: `the host has too little free under ${dir} for ${o.what} of ${o.mb} MiB` };
  }
  const image = join(dir, o.image);
  mountExt4Image(dir, image, size, ext4MkfsArgs(image, o), ["nosuid", "nodev", "noexec"]);
  mounted.set(dir, size);
  return { mb: size };
}

/**
 * The space on the disk at `dir` when it is one this process mounted (`mountServiceDisk`) and
 * still mounted; else undefined (a disk_full fault's disk in its place is the harness's).
 */
export function diskSpaceOf(dir: string): DiskSpace | undefined {
  try {
    if (!mounted.has(dir) || !isMounted(dir)) return undefined;
    return space(dir);
  } catch {
    return undefined;
  }
}
