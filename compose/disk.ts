/**
 * Bounded data disks, for the `disk_full` fault: a node's data directory (a
 * broker's log dir, MinIO's data) on a filesystem of its own bounded size, a
 * size-limited tmpfs mounted on the host before the node starts (the docker
 * stack bind-mounts the folder that holds it, and Docker's binds are
 * recursive, so the container writes to it too). Filling it leaves the node
 * what a full disk leaves it; `ballast` files do that and are removed again.
 *
 * Every mount of a stack lies under its data dir: `unmountUnder` removes them
 * all (deepest first) when the stack goes down, copying out the folders a run
 * keeps (MinIO's store), and the watchdog's `UNMOUNT_SCRIPT` does the same
 * when the harness dies.
 *
 * ```ts
 * await mountDisk(dataDiskPath(dataDir, "kafka-2")!, 1024);
 * const ballast = await fillDisk(dataDiskPath(dataDir, "kafka-2")!, 0);
 * await ballast.remove();
 * await unmountUnder(dataDir, ["minio"]);
 * ```
 * @module
 */

import { join } from "node:path";

export const MiB = 1024 * 1024;

/** The size of each bounded disk when a scenario uses `disk_full` and says no other. */
export const DEFAULT_DISK_MB = 2048;

/** The name ballast files start with (one per fill). */
const BALLAST = "chaos-ballast";

/**
 * The host folder a bounded disk holds for `node` under a stack's `dataDir`: a broker's log
 * dir (`kafka-<id>/log`, on both stacks) or MinIO's data (`minio`); undefined for other nodes.
 */
export function dataDiskPath(dataDir: string, node: string): string | undefined {
  if (/^kafka-\d+$/.test(node)) return join(dataDir, node, "log");
  if (node === "minio") return join(dataDir, "minio");
  return undefined;
}

/** The nodes that can have a bounded disk, of a stack's node names. */
export function diskNodes(nodes: Iterable<string>): string[] {
  return [...nodes].filter((n) => dataDiskPath("/", n) !== undefined);
}

/** Why this host cannot mount bounded disks, or undefined. */
export function diskProblem(): string | undefined {
  if (Deno.build.os !== "linux") return "bounded data disks need Linux (a tmpfs mount)";
  if (Deno.uid() !== 0) return "bounded data disks need root (mount -t tmpfs)";
  return undefined;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}): ${err || text.trim()}`);
  }
  return text;
}

/** Mounts a tmpfs of `mb` MiB at `path` (made if missing); everyone may write to it. */
export async function mountDisk(path: string, mb: number): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  await run("mount", ["-t", "tmpfs", "-o", `size=${mb}m,mode=0777`, "chaos-disk", path]);
}

/** The mount points at or under `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  const base = dir.replace(/\/+$/, "");
  const points = text.split("\n").map((line) => line.split(" ")[4]).filter(Boolean)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === base || p.startsWith(`${base}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** True when `path` is a mount point (a bounded disk). */
export function isMounted(path: string): boolean {
  return mountsUnder(path).includes(path.replace(/\/+$/, ""));
}

/**
 * Unmounts every mount at or under `dir`, deepest first. The contents of a mount whose folder
 * name is in `keep` are copied out first and stay where they were (a run keeps MinIO's store).
 */
export async function unmountUnder(dir: string, keep: readonly string[] = []): Promise<string[]> {
  const points = mountsUnder(dir);
  for (const point of points) {
    const kept = keep.includes(point.split("/").pop()!);
    const copy = `${point}.kept`;
    if (kept) {
      await Deno.remove(copy, { recursive: true }).catch(() => {});
      await run("cp", ["-a", `${point}/.`, copy]).catch(() => {});
    }
    await run("umount", [point]).catch(() => run("umount", ["-l", point]));
    if (kept) {
      await Deno.remove(point, { recursive: true }).catch(() => {});
      await Deno.rename(copy, point).catch(() => {});
    }
  }
  return points;
}

/**
 * The same for a shell: `dir` in `$dir`, lazily (processes may still hold files), copying
 * out MinIO's store first, removing Redis's disk image after (redis_disk.ts; used by the
 * watchdog when the harness dies).
 */
export const UNMOUNT_SCRIPT = `
awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
  case "$m" in */minio) rm -rf "$m.kept"; cp -a "$m/." "$m.kept" 2>/dev/null;; esac
  umount -l "$m" 2>/dev/null
  case "$m" in */minio) rm -rf "$m"; mv "$m.kept" "$m" 2>/dev/null;; esac
  case "$m" in */redis) rm -f "$m/.chaos-redis.img";; esac
done`;

/** Size and free space of the filesystem holding `path`, in bytes. */
export async function diskSpace(path: string): Promise<{ size: number; avail: number }> {
  const text = await run("df", ["-B1", "--output=size,avail", path]);
  const [size, avail] = text.trim().split("\n").pop()!.trim().split(/\s+/).map(Number);
  return { size, avail };
}

/** Ballast on a disk: how much it took, and how to give it back. */
export interface Ballast {
  path: string;
  bytes: number;
  /** Free space left once it was written, in bytes. */
  availBytes: number;
  remove(): Promise<void>;
}

/**
 * Fills the filesystem of `path` until `freeMb` MiB are left, with a ballast file in `path`.
 * With 0, the last bytes are written until the filesystem refuses more (ENOSPC). The node may
 * be writing meanwhile: the bulk is allocated with a margin, then topped up to what is left.
 */
export async function fillDisk(path: string, freeMb: number): Promise<Ballast> {
  const file = join(path, `${BALLAST}-${Date.now()}`);
  const remove = () => Deno.remove(file).catch(() => {});
  const size = async () => (await Deno.stat(file).catch(() => ({ size: 0 }))).size;
  try {
    const bulk = (await diskSpace(path)).avail - freeMb * MiB - FILL_MARGIN;
    if (bulk > 0) await run("fallocate", ["-l", String(bulk), file]);
    else await Deno.writeFile(file, new Uint8Array());
    if (freeMb === 0) {
      // Written until the disk is full, which dd reports as its error.
      await run("dd", ["if=/dev/zero", `of=${file}`, "bs=4096", "oflag=append", "conv=notrunc"])
        .catch(() => {});
    } else {
      const more = (await diskSpace(path)).avail - freeMb * MiB;
      if (more > 0) {
        await run("fallocate", ["-o", String(await size()), "-l", String(more), file])
          .catch(() => {});
      }
    }
  } catch (error) {
    await remove();
    throw error;
  }
  const after = await diskSpace(path);
  return { path: file, bytes: await size(), availBytes: after.avail, remove };
}

/** What the bulk of a fill leaves for the node's own writes meanwhile. */
const FILL_MARGIN = 32 * MiB;

/** Mounts a bounded disk of `mb` MiB for every broker's log dir and MinIO's data of `plan`. */
export async function mountDisks(
  dataDir: string,
  plan: { brokers: readonly { id: number }[] },
  mb: number,
): Promise<void> {
  const problem = diskProblem();
  if (problem) throw new Error(`cannot give the stack bounded data disks: ${problem}`);
  try {
    for (const node of [...plan.brokers.map((b) => `kafka-${b.id}`), "minio"]) {
      await mountDisk(dataDiskPath(dataDir, node)!, mb);
    }
  } catch (error) {
    await unmountUnder(dataDir);
    throw error;
  }
}
