/**
 * Lazy file systems, for power-loss faults: a backing folder mounted through
 * FUSE by the harness's own `lazyfs` (Go, `compose/lazyfs/`), where every
 * write reaches the backing folder at once but a simulated power loss undoes
 * everything not fsynced since. `powerLoss()` rewrites the backing folder into
 * what was durable and mounts it again, so a restarted process finds what a
 * real machine would have kept.
 *
 * What is durable (the rules of `compose/lazyfs/image.go`):
 * - a file's bytes and size as of its last fsync or fdatasync (of any handle);
 * - a name, once its folder was fsynced, or once the file or folder it names
 *   was fsynced (fsync commits the path that reaches it, as on ext4); an
 *   inode has one durable name, the last one made durable;
 * - so a file created and never fsynced, in a folder never fsynced since, is
 *   gone; a rename, an unlink or a mkdir is undone unless its folder (or the
 *   renamed file) was fsynced after it; a truncate is undone like a write.
 *   Kafka's segments and indexes (fsynced on flush and roll) and checkpoints
 *   (fsync, rename, fsync of the folder) come back as Kafka expects.
 *
 * Everything in the backing folder when it is mounted counts as durable (format a
 * broker's storage before mounting, or it may not survive). Nothing is written
 * back by itself: a real kernel would have flushed dirty pages within about 30 s,
 * so this is the worst case a power loss can do (as Jepsen's lazyfs).
 *
 * Processes still holding files of the mount when the power goes get EIO for
 * every later operation (then ENOTCONN once the old layer is gone), never the
 * durable data: the harness kills them first, as a power loss would, and
 * restarts them on the new mount (a container that bind-mounts it must be
 * restarted too: its bind still holds the old, detached mount). Hard links and
 * O_TMPFILE are refused.
 *
 * Injected IO faults (the `io_latency` and `io_error` faults): `setIoFaults()`
 * adds a delay to operations of some kinds, optionally with jitter (drawn
 * uniformly in delay ± jitter), and answers EIO for a share (0..1) of them;
 * `clearIoFaults()` ends both. The kinds: `read` (file data read), `write`
 * (writes, truncates, fallocate), `fsync` (fsync and fdatasync, of files and
 * folders), `meta` (every other operation that reaches the layer: lookup,
 * getattr, open, create, readdir, mkdir, rename, unlink, flush) and `all`.
 * `{ errorShare: { all: 1 } }` is a whole log dir failing: every operation
 * under the mount answers EIO. The kernel's page cache and its attribute and
 * name caches (1 s) answer some reads and lookups without the layer: those are
 * neither delayed nor failed. `status()` counts the operations delayed and
 * failed so far, by kind (the evidence a fault had its effect). Faults live in
 * the layer process: a power loss (a new layer) starts with none and with the
 * counters at 0. With no faults set, an operation costs one atomic load more.
 *
 * The control channel: signals, and line commands on the layer's standard
 * input (which it reads until EOF, the harness's death). SIGUSR1 = power loss,
 * SIGUSR2 = status, SIGTERM = unmount; the lines
 * `{"cmd":"faults","delay_ms":{"write":200},"jitter_ms":20,"error_share":{"read":0.5}}`
 * (replaces what is set; answered by a `faults` event with what is set now),
 * `{"cmd":"clear"}` and `{"cmd":"status"}`; a bad command is answered by an
 * `error` event and changes nothing. Events come back on standard output, one
 * JSON object a line.
 *
 * The binary is built once from the sources into the provisioning cache
 * (`$CHAOS_CACHE_DIR/lazyfs-<hash of the sources>/lazyfs`, a few seconds with
 * Go 1.24+; `CHAOS_LAZYFS_BIN` points at another). Needs Linux, root and
 * `/dev/fuse` (no fusermount: the layer mounts with mount(2)). A layer unmounts
 * cleanly (keeping every write) on `unmount()` (SIGTERM) and when the harness
 * dies (its stdin closes); it ignores the SIGINT of a Ctrl-C, so that the
 * harness's cleanup stops the writers before it unmounts.
 *
 * ```ts
 * const lazy = await mountLazy("/data/kafka-1/log.backing", "/data/kafka-1/log");
 * // ... the broker writes; the harness SIGKILLs it ...
 * const lost = await lazy.powerLoss(); // { bytesDropped: 1234567, ... }
 * await lazy.setIoFaults({ delayMs: { write: 200 } }); // every write 200 ms slower
 * (await lazy.status()).delayed.write; // how many were
 * await lazy.clearIoFaults();
 * // ... the broker restarts on what was durable ...
 * await lazy.unmount();
 * ```
 * @module
 */

import { join, resolve } from "node:path";
import { EnvironmentError } from "../lib/exit_codes.ts";
import { Progress } from "../lib/progress.ts";
import { run, which } from "./host.ts";
import { cacheDir, exists, repoRoot } from "./paths.ts";

/** The folder of the layer's Go sources. */
export const LAZYFS_SOURCE_DIR = join(repoRoot, "compose", "lazyfs");

/** The layer cannot be built, mounted or driven (what and why in the message). Exit code 3. */
export class LazyfsError extends EnvironmentError {
  override name = "LazyfsError";
}

/** The facts about the host that decide whether it can mount a lazy file system. */
export interface FuseHost {
  os: string;
  uid: number | null;
  /** Whether `/dev/fuse` exists as a character device. */
  devFuse: boolean;
  /** The text of `/proc/filesystems` ("" if unreadable). */
  filesystems: string;
}

/** Why a host with these facts cannot mount a lazy file system, or undefined. */
export function fuseProblem(host: FuseHost): string | undefined {
  if (host.os !== "linux") return `lazy file systems need Linux (FUSE), not ${host.os}`;
  if (host.uid !== 0) {
    return `lazy file systems need root (the layer mounts with mount(2)), not uid ${host.uid}`;
  }
  if (!/^nodev\s+fuse$/m.test(host.filesystems)) {
    return "the kernel has no FUSE (no `fuse` in /proc/filesystems): try `modprobe fuse`";
  }
  if (!host.devFuse) {
    return "/dev/fuse is missing (in a container: --device /dev/fuse --cap-add SYS_ADMIN)";
  }
  return undefined;
}

/** This host's facts. */
export function fuseHost(): FuseHost {
  let devFuse = false;
  let filesystems = "";
  try {
    devFuse = Deno.statSync("/dev/fuse").isCharDevice === true;
  } catch { /* missing */ }
  try {
    filesystems = Deno.readTextFileSync("/proc/filesystems");
  } catch { /* not Linux */ }
  return { os: Deno.build.os, uid: Deno.uid(), devFuse, filesystems };
}

/** Why this host cannot mount a lazy file system, or undefined. */
export function lazyfsProblem(): string | undefined {
  return fuseProblem(fuseHost());
}

// ---------------------------------------------------------------- the binary

/** The files the binary is built from: go.mod, go.sum and the Go sources (no tests). */
export function isSourceFile(name: string): boolean {
  return name === "go.mod" || name === "go.sum" ||
    (name.endsWith(".go") && !name.endsWith("_test.go"));
}

/** A short hash naming a build of these sources (name and bytes of each, in name order). */
export async function sourceHash(files: ReadonlyArray<[string, Uint8Array]>): Promise<string> {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  for (const [name, bytes] of [...files].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    parts.push(encoder.encode(`${name}\0${bytes.length}\0`), bytes);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readSources(dir: string): Promise<Array<[string, Uint8Array]>> {
  const files: Array<[string, Uint8Array]> = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && isSourceFile(entry.name)) {
      files.push([entry.name, await Deno.readFile(join(dir, entry.name))]);
    }
  }
  if (files.length === 0) throw new LazyfsError(`No lazyfs sources in ${dir}`);
  return files;
}

export interface EnsureOptions {
  /** Cache folder. Default: `cacheDir()`. */
  dir?: string;
  /** Folder of the Go sources. Default: `LAZYFS_SOURCE_DIR`. */
  source?: string;
}

/**
 * The path of the lazyfs binary: `CHAOS_LAZYFS_BIN`, or the cached build of the current
 * sources, built with `go build` when missing (a few seconds; modules from the Go proxy).
 */
export async function ensureLazyfs(options: EnsureOptions = {}): Promise<string> {
  const explicit = Deno.env.get("CHAOS_LAZYFS_BIN");
  if (explicit) {
    if (!(await exists(explicit))) {
      throw new LazyfsError(`CHAOS_LAZYFS_BIN=${explicit} does not exist`);
    }
    return explicit;
  }
  const source = options.source ?? LAZYFS_SOURCE_DIR;
  const hash = await sourceHash(await readSources(source));
  const home = join(options.dir ?? cacheDir(), `lazyfs-${hash}`);
  const binary = join(home, "lazyfs");
  if (await exists(binary)) return binary;
  const go = await which("go") ??
    ((await exists("/usr/local/go/bin/go")) ? "/usr/local/go/bin/go" : undefined);
  if (!go) {
    throw new LazyfsError(
      "lazyfs is not built and Go is missing to build it: install Go 1.24+ " +
        "(Debian: apt-get install golang-go) or point CHAOS_LAZYFS_BIN at a lazyfs binary",
    );
  }
  await Deno.mkdir(home, { recursive: true });
  const progress = new Progress(`lazyfs ${hash}`);
  progress.update("go build (first time only)");
  const part = `${binary}.${Deno.pid}.part`;
  const result = await run(go, ["build", "-trimpath", "-o", part, "."], {
    cwd: source,
    env: { GOFLAGS: "-buildvcs=false -mod=readonly", CGO_ENABLED: "0" },
  });
  if (result.code !== 0) {
    await Deno.remove(part).catch(() => {});
    throw new LazyfsError(
      `go build of lazyfs in ${source} failed (exit ${result.code}): ${
        result.out.trim().split("\n").slice(-5).join(" | ")
      }`,
    );
  }
  await Deno.rename(part, binary);
  progress.done(`built in ${progress.elapsedS().toFixed(1)} s`);
  return binary;
}

// ---------------------------------------------------------------- events

/** What a power loss threw away and kept. */
export interface PowerLossReport {
  filesReverted: number;
  /** Bytes past the durable sizes, cut off. */
  bytesDropped: number;
  /** Durable pages written back (they had been overwritten or truncated since the last fsync). */
  pagesRestored: number;
  /** Files that were never durable, deleted. */
  filesDeleted: number;
  /** Files put back under their durable names. */
  filesRestored: number;
  /** Names in the durable tree (files and folders). */
  durableEntries: number;
  /** Durable names whose file was gone (0 unless something changed the backing folder). */
  missing: number;
  ms: number;
}

/** The kinds of operations an IO fault acts on (see the module doc). */
export const IO_KINDS = ["read", "write", "fsync", "meta"] as const;
export type IoKind = typeof IO_KINDS[number];
/** A kind, or `all` of them. */
export type IoKey = IoKind | "all";

/** IO faults to inject: a delay in ms and a share of operations failing with EIO, by kind. */
export interface IoFaults {
  /** Added before each operation of the kind, in ms (0..60000). */
  delayMs?: Partial<Record<IoKey, number>>;
  /** Each delay is drawn uniformly in delay ± jitter (at least 0), in ms. */
  jitterMs?: number;
  /** The share of operations of the kind answered EIO instead of run (0..1; 1: every one). */
  errorShare?: Partial<Record<IoKey, number>>;
}

/** Operations by kind. */
export type IoCounts = Record<IoKind, number>;

/** What a power loss would drop now, the IO faults set and what they did. */
export interface LazyStatus {
  unsyncedFiles: number;
  /** Bytes past the durable sizes plus the durable pages overwritten since the last fsync. */
  unsyncedBytes: number;
  /** The IO faults set now, by kind (kinds with nothing left out). */
  faults: IoFaults;
  /** Operations delayed by an injected fault since the layer started. */
  delayed: IoCounts;
  /** Operations failed by an injected fault since the layer started. */
  failed: IoCounts;
}

/** One line of the layer's standard output. */
export type LazyEvent =
  | { event: "mounted"; pid: number }
  | { event: "status"; status: LazyStatus }
  | { event: "faults"; faults: IoFaults }
  | { event: "error"; message: string }
  | { event: "power_loss"; report: PowerLossReport }
  | { event: "unmounted"; why: string };

/** The operations counted in `after` since `before` (counters that restarted count from 0). */
export function countsSince(before: IoCounts, after: IoCounts): IoCounts {
  const since = {} as IoCounts;
  for (const kind of IO_KINDS) {
    since[kind] = after[kind] >= before[kind] ? after[kind] - before[kind] : after[kind];
  }
  return since;
}

/** The sum of counts over `kinds` (default all). */
export function totalOf(counts: IoCounts, kinds: readonly IoKind[] = IO_KINDS): number {
  return kinds.reduce((n, kind) => n + counts[kind], 0);
}

/** The command line that sets `faults` (none: clears them). */
export function faultsCommand(faults: IoFaults): string {
  const cmd: Record<string, unknown> = { cmd: "faults" };
  if (faults.delayMs) cmd.delay_ms = faults.delayMs;
  if (faults.jitterMs) cmd.jitter_ms = faults.jitterMs;
  if (faults.errorShare) cmd.error_share = faults.errorShare;
  return JSON.stringify(cmd);
}

function counts(obj: Record<string, unknown>, key: string, line: string): IoCounts {
  const value = obj[key];
  if (typeof value !== "object" || value === null) {
    throw new LazyfsError(`lazyfs event without ${key} counts: ${line}`);
  }
  const out = {} as IoCounts;
  for (const kind of IO_KINDS) out[kind] = num(value as Record<string, unknown>, kind, line);
  return out;
}

function byKind(value: unknown, key: string, line: string): Partial<Record<IoKey, number>> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object") throw new LazyfsError(`lazyfs event with a bad ${key}: ${line}`);
  const out: Partial<Record<IoKey, number>> = {};
  for (const [kind, n] of Object.entries(value)) {
    if (!(IO_KINDS as readonly string[]).includes(kind) || typeof n !== "number") {
      throw new LazyfsError(`lazyfs event with a bad ${key}.${kind}: ${line}`);
    }
    out[kind as IoKind] = n;
  }
  return out;
}

function faultsOf(value: unknown, line: string): IoFaults {
  if (typeof value !== "object" || value === null) {
    throw new LazyfsError(`lazyfs event without its faults: ${line}`);
  }
  const obj = value as Record<string, unknown>;
  const faults: IoFaults = {};
  const delayMs = byKind(obj.delay_ms, "delay_ms", line);
  const errorShare = byKind(obj.error_share, "error_share", line);
  if (Object.keys(delayMs).length > 0) faults.delayMs = delayMs;
  if (typeof obj.jitter_ms === "number" && obj.jitter_ms > 0 && faults.delayMs) {
    faults.jitterMs = obj.jitter_ms;
  }
  if (Object.keys(errorShare).length > 0) faults.errorShare = errorShare;
  return faults;
}

function num(obj: Record<string, unknown>, key: string, line: string): number {
  const value = obj[key];
  if (typeof value !== "number") {
    throw new LazyfsError(`lazyfs event without a number ${key}: ${line}`);
  }
  return value;
}

/** Parses one line of the layer's output; undefined for an event of another kind. */
export function parseEvent(line: string): LazyEvent | undefined {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(line);
  } catch (error) {
    throw new LazyfsError(`lazyfs printed a line that is not JSON: ${line}`, { cause: error });
  }
  switch (obj?.event) {
    case "mounted":
      return { event: "mounted", pid: num(obj, "pid", line) };
    case "status":
      return {
        event: "status",
        status: {
          unsyncedFiles: num(obj, "unsynced_files", line),
          unsyncedBytes: num(obj, "unsynced_bytes", line),
          faults: faultsOf(obj.faults, line),
          delayed: counts(obj, "delayed", line),
          failed: counts(obj, "failed", line),
        },
      };
    case "faults":
      return { event: "faults", faults: faultsOf(obj.faults, line) };
    case "error":
      return { event: "error", message: String(obj.message ?? "") };
    case "power_loss":
      return {
        event: "power_loss",
        report: {
          filesReverted: num(obj, "files_reverted", line),
          bytesDropped: num(obj, "bytes_dropped", line),
          pagesRestored: num(obj, "pages_restored", line),
          filesDeleted: num(obj, "files_deleted", line),
          filesRestored: num(obj, "files_restored", line),
          durableEntries: num(obj, "durable_entries", line),
          missing: num(obj, "missing", line),
          ms: num(obj, "ms", line),
        },
      };
    case "unmounted":
      return { event: "unmounted", why: String(obj.why ?? "") };
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------- the mount

export interface LazyMountOptions {
  /** The lazyfs binary. Default: `ensureLazyfs()`. */
  binary?: string;
  /** Also fsync the backing files on fsync (the real cost). Default true. */
  realSync?: boolean;
  /** How long to wait for the layer to mount, answer or exit, in ms. Default 15000. */
  timeoutMs?: number;
}

/** One running layer process and the events it printed. */
class Layer {
  readonly child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #waiting: Array<(e: LazyEvent) => void> = [];
  #stderr = "";
  readonly status: Promise<Deno.CommandStatus>;
  readonly #drained: Promise<void>;

  constructor(binary: string, args: string[]) {
    this.child = new Deno.Command(binary, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    this.#drained = Promise.all([this.#readLines(), this.#readStderr()]).then(() => {});
    this.status = this.child.status;
  }

  async #readLines(): Promise<void> {
    let buffer = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        let event: LazyEvent | undefined;
        try {
          event = parseEvent(line);
        } catch (error) {
          this.#stderr = `${this.#stderr}\n${(error as Error).message}`.slice(-4000);
        }
        if (event) { for (const wake of this.#waiting.splice(0)) wake(event); }
      }
    }
  }

  async #readStderr(): Promise<void> {
    for await (const chunk of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr = (this.#stderr + chunk).slice(-4000);
    }
  }

  get stderr(): string {
    return this.#stderr.trim();
  }

  /**
   * The next event of `kind` (or of one of `kind`), or an error if the layer exits or the time
   * runs out first.
   */
  next<K extends LazyEvent["event"]>(
    kind: K | readonly K[],
    timeoutMs: number,
  ): Promise<Extract<LazyEvent, { event: K }>> {
    const kinds: readonly string[] = typeof kind === "string" ? [kind] : kind;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new LazyfsError(`lazyfs sent no ${kinds.join(" or ")} event within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      const wake = (e: LazyEvent) => {
        if (kinds.includes(e.event)) {
          clearTimeout(timer);
          resolve(e as Extract<LazyEvent, { event: K }>);
        } else this.#waiting.push(wake);
      };
      this.#waiting.push(wake);
      this.status.then(async (s) => {
        await this.#drained;
        clearTimeout(timer);
        reject(
          new LazyfsError(
            `lazyfs exited (code ${s.code}${s.signal ? `, ${s.signal}` : ""}) before its ${
              kinds.join(" or ")
            } ` +
              `event: ${this.stderr || "no error output"}`,
          ),
        );
      });
    });
  }

  /** Writes one command line to the layer's standard input. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${line}\n`));
  }

  /** Waits for the exit and for the output to be read; closes stdin. */
  async finish(): Promise<Deno.CommandStatus> {
    const status = await this.status;
    await this.#drained;
    await this.#stdin.close().catch(() => {});
    return status;
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
  }
}

/** A backing folder mounted lazily at a mount point (see the module doc). */
export class LazyMount {
  readonly backing: string;
  readonly mountpoint: string;
  readonly #binary: string;
  readonly #args: string[];
  readonly #timeoutMs: number;
  #layer: Layer | undefined;
  /** The commands sent, one at a time (each waits for its answer). */
  #commands: Promise<void> = Promise.resolve();

  private constructor(
    backing: string,
    mountpoint: string,
    binary: string,
    options: LazyMountOptions,
  ) {
    this.backing = backing;
    this.mountpoint = mountpoint;
    this.#binary = binary;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#args = ["-backing", backing, "-mount", mountpoint, "-watch-stdin"];
    if (options.realSync === false) this.#args.push("-real-sync=false");
  }

  /** Mounts `backing` (made if missing) at `mountpoint` (made if missing; must not be a mount). */
  static async mount(
    backing: string,
    mountpoint: string,
    options: LazyMountOptions = {},
  ): Promise<LazyMount> {
    const problem = lazyfsProblem();
    if (problem) {
      throw new LazyfsError(`Cannot mount a lazy file system on ${mountpoint}: ${problem}`);
    }
    await detachDeadLayer(resolve(mountpoint)); // a dead one answers ENOTCONN to everything
    await Deno.mkdir(backing, { recursive: true });
    await Deno.mkdir(mountpoint, { recursive: true });
    const lazy = new LazyMount(
      await Deno.realPath(backing),
      await Deno.realPath(mountpoint),
      options.binary ?? await ensureLazyfs(),
      options,
    );
    await lazy.#start();
    return lazy;
  }

  /** The pid of the layer process (undefined when not mounted). */
  get pid(): number | undefined {
    return this.#layer?.child.pid;
  }

  /** True while the layer is up. */
  get mounted(): boolean {
    return this.#layer !== undefined;
  }

  async #start(): Promise<void> {
    await detachDeadLayer(this.mountpoint);
    const layer = new Layer(this.#binary, this.#args);
    try {
      await layer.next("mounted", this.#timeoutMs);
    } catch (error) {
      layer.kill("SIGKILL");
      await layer.finish();
      throw new LazyfsError(`Cannot mount ${this.backing} lazily on ${this.mountpoint}`, {
        cause: error,
      });
    }
    this.#layer = layer;
  }

  #up(what: string): Layer {
    if (!this.#layer) throw new LazyfsError(`Cannot ${what}: ${this.mountpoint} is not mounted`);
    return this.#layer;
  }

  /** What a power loss would drop now. */
  async status(): Promise<LazyStatus> {
    const layer = this.#up("read the status");
    const next = layer.next("status", this.#timeoutMs);
    layer.kill("SIGUSR2");
    return (await next).status;
  }

  /**
   * Sets the IO faults of the layer (replacing any set before; see the module doc); resolves
   * with what is set now. A spec the layer refuses (an unknown kind, a share outside 0..1, a
   * delay outside 0..60000 ms) is a LazyfsError and changes nothing.
   */
  setIoFaults(faults: IoFaults): Promise<IoFaults> {
    return this.#command(faultsCommand(faults), "set IO faults");
  }

  /** Ends every injected IO fault (the counters stay). */
  async clearIoFaults(): Promise<void> {
    await this.#command(JSON.stringify({ cmd: "clear" }), "clear IO faults");
  }

  #command(line: string, what: string): Promise<IoFaults> {
    const answer = this.#commands.then(async () => {
      const layer = this.#up(what);
      const next = layer.next(["faults", "error"], this.#timeoutMs);
      await layer.send(line);
      const event = await next;
      if (event.event === "error") {
        throw new LazyfsError(`Cannot ${what} on ${this.mountpoint}: ${event.message}`);
      }
      return event.faults;
    });
    this.#commands = answer.then(() => {}, () => {});
    return answer;
  }

  /**
   * Loses the power: every write not fsynced is undone in the backing folder (processes
   * still on the mount get only errors from then on), then, unless `remount` is false,
   * the durable state is mounted again at the same place.
   */
  async powerLoss(options: { remount?: boolean } = {}): Promise<PowerLossReport> {
    const layer = this.#up("lose power");
    const next = layer.next("power_loss", this.#timeoutMs);
    layer.kill("SIGUSR1");
    let report: PowerLossReport;
    try {
      report = (await next).report;
    } finally {
      await layer.finish();
      this.#layer = undefined;
    }
    if (options.remount ?? true) await this.#start();
    return report;
  }

  /** Unmounts cleanly (every write stays in the backing folder); idempotent. */
  async unmount(): Promise<void> {
    const layer = this.#layer;
    if (!layer) return;
    this.#layer = undefined;
    layer.kill("SIGTERM");
    const timer = setTimeout(() => layer.kill("SIGKILL"), this.#timeoutMs);
    const status = await layer.finish();
    clearTimeout(timer);
    await detachDeadLayer(this.mountpoint);
    if (!status.success) {
      throw new LazyfsError(
        `lazyfs on ${this.mountpoint} exited with code ${status.code} on unmount: ${layer.stderr}`,
      );
    }
  }
}

/** Mounts `backing` lazily at `mountpoint` (see `LazyMount`). */
export function mountLazy(
  backing: string,
  mountpoint: string,
  options: LazyMountOptions = {},
): Promise<LazyMount> {
  return LazyMount.mount(backing, mountpoint, options);
}

/** The file system type of the mount at `path` exactly, from /proc/self/mountinfo. */
export function mountType(path: string, mountinfo: string): string | undefined {
  let found: string | undefined;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    const point = left?.split(" ")[4]?.replace(
      /\\([0-7]{3})/g,
      (_, o) => String.fromCharCode(parseInt(o, 8)),
    );
    if (point === path && right) found = right.split(" ")[0]; // the last one is on top
  }
  return found;
}

/** Detaches a lazyfs mount left at `path` by a layer that died; refuses any other mount. */
async function detachDeadLayer(path: string): Promise<void> {
  const type = mountType(path, await Deno.readTextFile("/proc/self/mountinfo"));
  if (type === undefined) return;
  if (type !== "fuse.lazyfs") {
    throw new LazyfsError(`Cannot mount lazily on ${path}: a ${type} file system is mounted there`);
  }
  const alive = await Deno.stat(path).then(() => true, () => false); // a dead one: ENOTCONN
  if (alive) {
    throw new LazyfsError(`Cannot mount lazily on ${path}: a live lazyfs is mounted there`);
  }
  const result = await run("umount", ["-l", path]);
  if (result.code !== 0) {
    throw new LazyfsError(`Cannot detach the old lazyfs mount at ${path}: ${result.out.trim()}`);
  }
}
