/**
 * The store's disk: on the local stack, MinIO's data folder (`<dataDir>/minio`) is an ext4
 * filesystem of its own, on a sparse image on a loop device mounted over the folder (the image
 * lies in the folder, under the mount), so that a pipeline that PUTs without end fills the
 * store's disk, not the grader's: MinIO's writes then fail (no space left), and the harness can
 * still write the run folder. `storeFull` says so while the stack is up, for the verdict.
 *
 * The bound is `CHAOS_STORE_DISK_MB` (default 8 GiB; `0`: no store disk), made smaller when the
 * host has not twice that free beyond a reserve of 1 GiB and what the other disks of this process
 * may still take (a run keeps its store: `down` copies it out of the disk before unmounting it,
 * and the copy must fit too; the mount is service_disk.ts's, shared with Redis's disk). Without root or mkfs.ext4,
 * or when the folder is a disk already (`disk_full`, lazy disks), there is none: `mountStoreDisk`
 * says why. Unmounted with the stack's other disks (disk.ts: `unmountUnder`, and the watchdog's
 * script when the harness dies), the loop device freed with it (autoclear) and the image removed.
 *
 * ```ts
 * import { mountStoreDisk, storeDiskMbFromEnv, storeFull } from "./store_disk.ts";
 * const disk = mountStoreDisk("/run/x/stack/minio", storeDiskMbFromEnv()); // { mb } or { problem }
 * storeFull("/run/x/stack/minio"); // undefined, or a line of evidence
 * ```
 * @module
 */

import {
  diskMbFromEnv,
  diskSpaceOf,
  ext4MkfsArgs,
  fittedDiskMb,
  HOST_RESERVE_MB,
  mountServiceDisk,
} from "./service_disk.ts";

export { HOST_RESERVE_MB };
/** The store's disk when the grader names none (CHAOS_STORE_DISK_MB). */
export const DEFAULT_STORE_DISK_MB = 8192;
/** The smallest store disk worth making. */
export const MIN_STORE_DISK_MB = 1024;
/** The image file in the store's folder, under the filesystem mounted from it. */
export const STORE_IMAGE = ".chaos-store.img";
/** Below this much free (or 1% of the disk), the store is full: MinIO's writes fail. */
const FULL_BELOW_MB = 64;

/** The store disk's size the grader set (`CHAOS_STORE_DISK_MB`, 0: none); bad values throw. */
export function storeDiskMbFromEnv(
  env: { get(name: string): string | undefined } = Deno.env,
): number {
  return diskMbFromEnv(
    "CHAOS_STORE_DISK_MB",
    { fallback: DEFAULT_STORE_DISK_MB, minMb: MIN_STORE_DISK_MB },
    env,
  );
}

/**
 * The size to give the store's disk with `freeMb` free on the host, for a wanted `mb`: at most
 * half of what is free beyond the reserve (the disk, then its copy at teardown); 0 when that is
 * below the smallest worth making. Pure.
 */
export function fittedStoreMb(mb: number, freeMb: number): number {
  return fittedDiskMb(mb, freeMb, { copies: 2, minMb: MIN_STORE_DISK_MB });
}

/** How the store's disk is made: an inode per 8 KiB (MinIO takes a folder and a file per object). */
const STORE_DISK = {
  minMb: MIN_STORE_DISK_MB,
  copies: 2,
  image: STORE_IMAGE,
  label: "chaos-store",
  bytesPerInode: 8192,
  envName: "CHAOS_STORE_DISK_MB",
  what: "the store's disk",
};

/** `mkfs.ext4`'s arguments for the store's image: no journal, nothing reserved, lazy tables. */
export function storeMkfsArgs(image: string): string[] {
  return ext4MkfsArgs(image, STORE_DISK);
}

/**
 * Mounts the store's disk of (at most) `mb` MiB over the empty folder `dir`; what it made, or
 * why there is none (`mb` 0, not root, no mkfs.ext4, the folder a disk already, a full host).
 */
export function mountStoreDisk(dir: string, mb: number): { mb: number } | { problem: string } {
  return mountServiceDisk(dir, { ...STORE_DISK, mb });
}

/**
 * One line of evidence when the store's disk at `dir` is full (under 64 MiB or 1% free, or under
 * 1000 inodes: MinIO's writes fail), else undefined (also when `dir` is no store disk).
 */
export function storeFull(dir: string): string | undefined {
  const s = diskSpaceOf(dir);
  if (!s) return undefined;
  const lowSpace = s.freeMb < Math.max(FULL_BELOW_MB, s.sizeMb / 100);
  if (!lowSpace && s.inodesFree >= 1000) return undefined;
  return `the store's disk (${s.sizeMb} MiB, CHAOS_STORE_DISK_MB) was full: ${s.usedMb} MiB ` +
    `used, ${s.freeMb} MiB and ${s.inodesFree} inodes free, so MinIO's writes failed; the ` +
    "pipeline wrote more to the store than it may";
}

/** Why stacks of this process had no store disk (each said once), for a grade to record. */
const gaps = new Set<string>();

/** Records what `mountStoreDisk` said (a problem, but for `CHAOS_STORE_DISK_MB=0`). */
export function noteStoreDisk(result: { mb: number } | { problem: string }): void {
  if (!("problem" in result) || result.problem === "CHAOS_STORE_DISK_MB=0") return;
  gaps.add(`the store's disk not bounded: ${result.problem}`);
}

/** What the store's disk lacked on this host so far (see `noteStoreDisk`). */
export function storeDiskGaps(): string[] {
  return [...gaps];
}
