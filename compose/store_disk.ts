/**
 * The store's disk: on the local stack, MinIO's data folder (`<dataDir>/minio`) is an ext4
 * filesystem of its own, on a sparse image on a loop device mounted over the folder (the image
 * lies in the folder, under the mount), so that a pipeline that PUTs without end fills the
 * store's disk, not the grader's: MinIO's writes then fail (no space left), and the harness can
 * still write the run folder. `storeFull` says so while the stack is up, for the verdict.
 *
 * The bound is `CHAOS_STORE_DISK_MB` (default 8 GiB; `0`: no store disk), made smaller when the
 * host has not twice that free beyond a reserve of 1 GiB (a run keeps its store: `down` copies it
 * out of the disk before unmounting it, and the copy must fit too). Without root or mkfs.ext4,
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

import { join } from "node:path";
import { isMounted } from "./disk.ts";
import { mountExt4Image } from "./sandbox_bounds.ts";

const MiB = 1024 * 1024;
/** The store's disk when the grader names none (CHAOS_STORE_DISK_MB). */
export const DEFAULT_STORE_DISK_MB = 8192;
/** The smallest store disk worth making. */
export const MIN_STORE_DISK_MB = 1024;
/** What the host keeps free beyond the store's disk and its copy (the run folder, the reports). */
export const HOST_RESERVE_MB = 1024;
/** The image file in the store's folder, under the filesystem mounted from it. */
export const STORE_IMAGE = ".chaos-store.img";
/** Below this much free (or 1% of the disk), the store is full: MinIO's writes fail. */
const FULL_BELOW_MB = 64;

/** The store disk's size the grader set (`CHAOS_STORE_DISK_MB`, 0: none); bad values throw. */
export function storeDiskMbFromEnv(
  env: { get(name: string): string | undefined } = Deno.env,
): number {
  const value = env.get("CHAOS_STORE_DISK_MB");
  if (value === undefined || value.trim() === "") return DEFAULT_STORE_DISK_MB;
  const mb = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || (mb !== 0 && mb < MIN_STORE_DISK_MB) || mb > 1024 * 1024) {
    throw new Error(
      `CHAOS_STORE_DISK_MB: ${JSON.stringify(value)} is neither 0 (no store disk) nor a size in ` +
        `MiB from ${MIN_STORE_DISK_MB} to 1048576`,
    );
  }
  return mb;
}

/**
 * The size to give the store's disk with `freeMb` free on the host, for a wanted `mb`: at most
 * half of what is free beyond the reserve (the disk, then its copy at teardown); 0 when that is
 * below the smallest worth making. Pure.
 */
export function fittedStoreMb(mb: number, freeMb: number): number {
  const fits = Math.floor((freeMb - HOST_RESERVE_MB) / 2);
  const size = Math.min(mb, fits);
  return size >= MIN_STORE_DISK_MB ? size : 0;
}

/** `mkfs.ext4`'s arguments for the store's image: no journal, nothing reserved, lazy tables. */
export function storeMkfsArgs(image: string): string[] {
  // An inode per 8 KiB: MinIO takes a folder and a file for each object.
  return [
    "-q",
    "-F",
    "-m",
    "0",
    "-i",
    "8192",
    "-O",
    "^has_journal",
    "-E",
    "lazy_itable_init=1,nodiscard",
    "-L",
    "chaos-store",
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

/** Size, used and free MiB of the filesystem holding `dir`. */
function space(dir: string): { sizeMb: number; usedMb: number; freeMb: number } {
  const out = mustRun("df", ["-B1", "--output=size,used,avail", dir]).split("\n").at(-1) ?? "";
  const [size, used, avail] = out.trim().split(/\s+/).map((n) => Math.floor(Number(n) / MiB));
  return { sizeMb: size, usedMb: used, freeMb: avail };
}

/**
 * Mounts the store's disk of (at most) `mb` MiB over the empty folder `dir`; what it made, or
 * why there is none (`mb` 0, not root, no mkfs.ext4, the folder a disk already, a full host).
 */
export function mountStoreDisk(dir: string, mb: number): { mb: number } | { problem: string } {
  if (mb === 0) return { problem: "CHAOS_STORE_DISK_MB=0" };
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    return { problem: "the store's disk needs root on Linux (a loop mount)" };
  }
  if (isMounted(dir)) return { problem: `${dir} is a disk already` };
  if (run("mkfs.ext4", ["-V"]).code === 127) return { problem: "no mkfs.ext4 (e2fsprogs)" };
  const size = fittedStoreMb(mb, space(dir).freeMb);
  if (size === 0) {
    return { problem: `the host has too little free under ${dir} for a store disk of ${mb} MiB` };
  }
  const image = join(dir, STORE_IMAGE);
  mountExt4Image(dir, image, size, storeMkfsArgs(image), ["nosuid", "nodev", "noexec"]);
  mounted.add(dir);
  return { mb: size };
}

/**
 * One line of evidence when the store's disk at `dir` is full (under 64 MiB or 1% free, or under
 * 1000 inodes: MinIO's writes fail), else undefined (also when `dir` is no store disk).
 */
export function storeFull(dir: string): string | undefined {
  try {
    // Only a store disk of this process's: a disk_full fault's disk in its place is the harness's.
    if (!mounted.has(dir) || !isMounted(dir)) return undefined;
    const s = space(dir);
    const inodes = mustRun("df", ["--output=iavail", dir]).split("\n").at(-1)?.trim();
    const lowSpace = s.freeMb < Math.max(FULL_BELOW_MB, s.sizeMb / 100);
    const lowInodes = Number(inodes) < 1000;
    if (!lowSpace && !lowInodes) return undefined;
    return `the store's disk (${s.sizeMb} MiB, CHAOS_STORE_DISK_MB) was full: ${s.usedMb} MiB ` +
      `used, ${s.freeMb} MiB and ${inodes} inodes free, so MinIO's writes failed; the pipeline ` +
      "wrote more to the store than it may";
  } catch {
    return undefined;
  }
}

/** The store disks this process mounted (storeFull speaks only of those). */
const mounted = new Set<string>();

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
