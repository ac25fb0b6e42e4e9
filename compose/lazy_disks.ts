/**
 * Lazy data disks, for the storage faults (`power_loss`, `io_latency`,
 * `io_error`): each broker's log dir and MinIO's data mounted through the
 * lazyfs layer (compose/lazyfs.ts), so that a power loss can drop what a node
 * wrote and did not fsync. The node's folder (`dataDiskPath`, as for bounded
 * disks) becomes the mount point and its contents move to a backing folder
 * beside it (`<path>.backing`): a broker's storage is formatted before its
 * folder is mounted (everything in the backing folder at mount time counts as
 * durable; StorageTool does not fsync), MinIO's is mounted before it starts.
 *
 * On the docker stack (docker_stack.ts) the mounts are the same, on the
 * host, made before the containers start: a broker's container bind-mounts
 * `<dataDir>/kafka-<id>` (recursively, so the mount at its `log` below comes
 * with it; the layer mounts with `allow_other`) and MinIO's bind-mounts the
 * mount point itself. A container started again (after a power loss) binds
 * anew and gets the new mount. Only a local engine shares the host's mounts:
 * `lazyStackProblem` says which stacks cannot have lazy disks.
 *
 * The layers are child processes of the harness: a stack on lazy disks lives
 * as long as the process that mounted them (`deno task up` does not offer
 * them). `unmountAll()` (the stack's `down`, after its nodes are stopped)
 * unmounts each cleanly and puts the backing folder back in its place, so the
 * data is where a stack without lazy disks has it (a run keeps MinIO's store).
 * When the harness dies, each layer unmounts itself (its stdin closes), the
 * watchdog detaches what is left (disk.ts's `UNMOUNT_SCRIPT`) and
 * `RESTORE_BACKINGS_SCRIPT` puts the backing folders back; `restoreBackings`
 * does the same for the next `down` or `up` of a stack left by a dead run.
 *
 * ```ts
 * const disks = new LazyDisks(dataDir);
 * await disks.add("kafka-1"); // after formatting, before the broker starts
 * const report = await disks.get("kafka-1")!.powerLoss();
 * await disks.unmountAll();
 * ```
 * @module
 */

import { type LazyMount, type LazyMountOptions, mountLazy } from "./lazyfs.ts";
import { dataDiskPath, isMounted } from "./disk.ts";
import { exists } from "./paths.ts";

/** A stack's lazy disks cannot be mounted or put back (what and why in the message). */
export class LazyDiskError extends Error {
  override name = "LazyDiskError";
}

/** The backing folder of the lazy disk mounted at `path`. */
export function backingPath(path: string): string {
  return `${path.replace(/\/+$/, "")}.backing`;
}

/** The lazyfs mounts at or under `dir` in a mountinfo text, deepest first. */
export function lazyMountsIn(dir: string, mountinfo: string): string[] {
  const base = dir.replace(/\/+$/, "");
  const points = mountinfo.split("\n").flatMap((line) => {
    const [left, right] = line.split(" - ");
    const point = left?.split(" ")[4]?.replace(
      /\\([0-7]{3})/g,
      (_, o) => String.fromCharCode(parseInt(o, 8)),
    );
    if (!point || right?.split(" ")[0] !== "fuse.lazyfs") return [];
    return point === base || point.startsWith(`${base}/`) ? [point] : [];
  });
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** The lazyfs mounts at or under `dir` now (a stack's `down` must leave none). */
export function lazyMountsUnder(dir: string): string[] {
  return lazyMountsIn(dir, Deno.readTextFileSync("/proc/self/mountinfo"));
}

/** A stack's lazy disks, by node name (`kafka-<id>`, `minio`). */
export class LazyDisks {
  readonly dataDir: string;
  readonly #options: LazyMountOptions;
  readonly #mounts = new Map<string, LazyMount>();

  constructor(dataDir: string, options: LazyMountOptions = {}) {
    this.dataDir = dataDir;
    this.#options = options;
  }

  /** The nodes whose data is on a lazy disk now. */
  get nodes(): string[] {
    return [...this.#mounts.keys()];
  }

  /** The lazy disk of `node`, if it has one. */
  get(node: string): LazyMount | undefined {
    return this.#mounts.get(node);
  }

  /**
   * Puts `node`'s data on a lazy disk: what its folder holds (formatted storage) moves to the
   * backing folder, which is mounted at the folder. The node must not be running.
   */
  async add(node: string): Promise<LazyMount> {
    const path = dataDiskPath(this.dataDir, node);
    if (!path) throw new LazyDiskError(`${node} has no data disk (brokers and minio have one)`);
    if (this.#mounts.has(node)) throw new LazyDiskError(`${node} is already on a lazy disk`);
    if (isMounted(path)) {
      throw new LazyDiskError(`Cannot put ${node} on a lazy disk: ${path} is a mount point`);
    }
    const backing = backingPath(path);
    await Deno.remove(backing, { recursive: true }).catch(() => {});
    if (await exists(path)) await Deno.rename(path, backing);
    else await Deno.mkdir(backing, { recursive: true });
    try {
      this.#mounts.set(node, await mountLazy(backing, path, this.#options));
    } catch (error) {
      await putBack(path, backing).catch(() => {});
      throw error;
    }
    return this.#mounts.get(node)!;
  }

  /**
   * Unmounts every lazy disk cleanly (every write kept) and puts each backing folder back at
   * its path. Stop the nodes first. Tries all; throws the first error after.
   */
  async unmountAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const [node, mount] of [...this.#mounts]) {
      this.#mounts.delete(node);
      await mount.unmount().catch((error) => errors.push(error));
      await putBack(mount.mountpoint, mount.backing).catch((error) => errors.push(error));
    }
    if (errors.length > 0) {
      throw new LazyDiskError(`Cannot unmount the lazy disks of ${this.dataDir}`, {
        cause: errors[0],
      });
    }
  }
}

/** Puts `backing` back at `path` (an unmounted mount point: empty, or a partial copy). */
async function putBack(path: string, backing: string): Promise<void> {
  if (!(await exists(backing))) return;
  if (isMounted(path)) throw new LazyDiskError(`Cannot put ${backing} back: ${path} is mounted`);
  await Deno.remove(path, { recursive: true }).catch(() => {});
  await Deno.rename(backing, path);
}

/**
 * Puts back every backing folder a dead run left under a stack's `dataDir` (run after its mounts
 * are gone: `unmountUnder`); returns their paths.
 */
export async function restoreBackings(dataDir: string): Promise<string[]> {
  const found: string[] = [];
  const candidates = [backingPath(dataDiskPath(dataDir, "minio")!)];
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(dataDir)) entries.push(entry);
  } catch { /* no data dir: nothing left */ }
  for (const entry of entries) {
    const path = dataDiskPath(dataDir, entry.name);
    if (entry.isDirectory && path && entry.name !== "minio") candidates.push(backingPath(path));
  }
  for (const backing of candidates) {
    if (!(await exists(backing))) continue;
    await putBack(backing.slice(0, -".backing".length), backing);
    found.push(backing);
  }
  return found;
}

/** The same for a shell, `dir` in `$dir` (the watchdog's, after `UNMOUNT_SCRIPT`). */
export const RESTORE_BACKINGS_SCRIPT = `
for b in "$dir"/minio.backing "$dir"/kafka-*/log.backing; do
  [ -d "$b" ] || continue
  m="\${b%.backing}"
  awk -v m="$m" '$5 == m {f=1} END {exit !f}' /proc/self/mountinfo && continue
  rm -rf "$m"; mv "$b" "$m"
done`;

/** What decides whether a stack can put its data on lazy disks. */
export interface LazyStackFacts {
  kind: "local" | "docker" | "external";
  /** The stack outlives the process that starts it (`deno task up`). */
  detached?: boolean;
  /** Its data on bounded disks (disk_full). */
  diskMb?: number;
  /** The host of a remote Docker engine (`DOCKER_HOST=tcp://...`), if any. */
  remoteEngine?: string;
}

/**
 * Why a stack with these facts cannot put its data on lazy disks, or undefined (the host's own
 * FUSE aside: `lazyfsProblem()`).
 */
export function lazyStackProblem(facts: LazyStackFacts): string | undefined {
  if (facts.kind === "external") {
    return "an external stack's data is not the harness's to mount (use --stack local or docker)";
  }
  if (facts.detached) {
    return "they live only as long as the process that mounts them, and this stack outlives it";
  }
  if (facts.diskMb) {
    return "the data cannot be on a bounded disk too (disk_full and the storage faults do not mix)";
  }
  if (facts.kind === "docker" && facts.remoteEngine) {
    return `the Docker engine at ${facts.remoteEngine} is remote: its containers cannot bind ` +
      "this host's FUSE mounts (use a local engine or --stack local)";
  }
  return undefined;
}

/** A stack that may hold lazy disks (the local and docker stacks). */
interface WithLazyDisks {
  readonly lazyDisks?: LazyDisks;
}

/** The lazy disk of `node` on `stack` (undefined: the stack put none under that node). */
export function lazyDisk(stack: object, node: string): LazyMount | undefined {
  return (stack as WithLazyDisks).lazyDisks?.get(node);
}
