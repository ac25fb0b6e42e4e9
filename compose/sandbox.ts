/**
 * A sandbox for a submission's commands: each runs as an unprivileged uid of
 * the harness's making (61000-64999, in neither /etc/passwd nor /etc/group,
 * owning no process), in mount, pid, ipc and uts namespaces of its own, and
 * reaches the network only where an iptables chain of the box's own lets it
 * (`-m owner --uid-owner`). A grading makes one box for `setup` and, for a
 * pipeline with separate sink and detector commands, one more per component,
 * each with its own copy of what setup built (`from`): neither component can
 * see, signal or trace the other's processes, read its environment or files,
 * or use the other's endpoints.
 *
 * Inside, the whole filesystem is read-only; the grader's home, the run and
 * output folders, the harness's state and key file are hidden behind empty
 * tmpfs; the harness tree, Deno's own folder and the Deno cache stay readable
 * (a pipeline may run the harness's Deno and read its code, never change it).
 * The submission's folder is copied (`cp -a`) to a private work folder and
 * bound, writable, at its own path: the copy, its HOME and its /tmp are the only
 * writable places; the original is never touched. Its own /proc shows only its
 * own processes, so the grader's `/proc/<pid>/environ` is out of sight. A
 * box's work folder, HOME and /tmp are its uid's alone (0700, in a 0711 folder
 * of root's): a box never lists or reads another's.
 * Each box is bounded (sandbox_bounds.ts): its work folder, HOME and /tmp
 * together are a filesystem of its own (an ext4 image on a loop device, 4 GiB
 * unless `CHAOS_SANDBOX_DISK_MB` says otherwise: past it, ENOSPC), its
 * processes a memory cgroup of its own (4 GiB, `CHAOS_SANDBOX_MEMORY_MB`: past
 * it the kernel's OOM killer kills inside the box, and `oomEvidence` says so), a low CPU weight
 * (a cpu cgroup of its own, `cpu.shares` 512, `CHAOS_SANDBOX_CPU_SHARES`: thousands of busy
 * threads cannot starve the brokers and the harness) and a bound on each of its processes' open
 * files (`CHAOS_SANDBOX_NOFILE`, 4096). The grader raises its own descriptor limit to the hard
 * limit when it opens a box (nofile.ts).
 * Its commands run in a Landlock domain of their own (landlock.ts): no other
 * box's (nor the host's) abstract unix socket, no TCP port bound but those
 * `network` gives.
 * With `CHAOS_BOX_NETNS=1` (off by default), each box has a network namespace of its own
 * (box_net.ts: its ports its own, the host's rules letting it reach only its endpoints, its
 * `listen` ports published to the host) where what it starts runs, but under `setup`.
 * `close()` kills every process of the uid (nothing of the submission runs
 * after the grade), removes the chain, the memory cgroup, the disk (unmounted,
 * its loop device freed) and the work folder.
 *
 * Needs root, util-linux `unshare`, `setpriv` and `losetup`, e2fsprogs'
 * `mkfs.ext4`, and iptables with the `owner` match: `sandboxSupport()` names
 * what is missing (or a bad `CHAOS_SANDBOX_*_MB`).
 *
 * ```ts
 * import { openSandbox } from "./sandbox.ts";
 * const box = await openSandbox({ source: "/srv/team-a", hide: ["/srv/grades"] });
 * await box.network({ kind: "setup" }); // registries yes, local ports no
 * const argv = box.wrap(["bash", "-c", "npm ci"]); // run with box.env(), in box.cwd
 * await box.network({ kind: "none" });
 * const sink = await openSandbox({ source: "/srv/team-a", from: box }); // a copy of box's work and HOME
 * await sink.network({ kind: "pipeline", endpoints: ["127.0.0.1:29111"], listen: [29051] });
 * await sink.close();
 * await box.close();
 * ```
 * @module
 */

import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { cacheDir, repoRoot, stateDir } from "./paths.ts";
import { harnessKeyPath } from "../lib/harness_key.ts";
import { sleep } from "../lib/wait.ts";
import { uncappedArgv } from "./log_cap.ts";
import {
  boundsFromEnv,
  type BoxBounds,
  cpuBound,
  DEFAULT_NOFILE,
  limitsScript,
  makeCpuCgroup,
  makeMemoryCgroup,
  memoryBound,
  type MemoryEvidence,
  memoryEvidence,
  mountDisk,
  oomLine,
  removeCpuCgroup,
  removeMemoryCgroup,
  unmountDisk,
} from "./sandbox_bounds.ts";
import { mustRun, run, SandboxError } from "./sandbox_error.ts";
import { landlockHelper } from "./landlock.ts";
import {
  type BoxNet,
  boxNetProblem,
  boxNetsOn,
  cleanStaleBoxNets,
  loopbackEndpoints,
  openBoxNet,
  staleBoxNetsThere,
} from "./box_net.ts";
import { raiseNofileLimit } from "./nofile.ts";
import { isUnder, type MountPlan, mountScript } from "./sandbox_mounts.ts";
import {
  chainName,
  firewalls,
  listenPorts,
  type NetworkPolicy,
  ownerMatch,
  removeChain,
  resolveEndpoints,
  writeChain,
} from "./sandbox_network.ts";

export { SandboxError };
export {
  type Bind,
  isUnder,
  MAX_PROCESSES,
  type MountPlan,
  mountScript,
  PID1,
  shellQuote,
} from "./sandbox_mounts.ts";
export {
  chainRules,
  listenPorts,
  type NetworkPolicy,
  PRIVATE_V4,
  PRIVATE_V6,
  resolveEndpoints,
  setupAllowFromEnv,
  splitHostPort,
} from "./sandbox_network.ts";

/** The range the sandbox's uids are drawn from. */
export const UID_RANGE = { min: 61000, max: 64999 } as const;
/** Where the work folders live: `<base>/<uid>/` (root, 0711). */
export const DEFAULT_BASE = "/var/lib/chaos-sandbox";
/** `unshare`'s flags for the sandbox's namespaces: mount, pid (with its own /proc), ipc, uts. */
const NAMESPACES = ["--mount", "--pid", "--fork", "--mount-proc", "--ipc", "--uts"];

/** Why submissions cannot be sandboxed here (what is needed), or null when they can. */
export function sandboxSupport(): string | null {
  if (Deno.build.os !== "linux") return `the sandbox needs Linux (this is ${Deno.build.os})`;
  if (Deno.uid() !== 0) {
    return `the sandbox needs root (to switch to a uid of its own, mount namespaces and ` +
      `iptables); this is uid ${Deno.uid()}`;
  }
  for (const tool of ["unshare", "setpriv", "iptables", "losetup", "mkfs.ext4"]) {
    if (run(tool, ["--version"]).code === 127) {
      return `the sandbox needs ${tool} (util-linux, iptables, e2fsprogs) on PATH`;
    }
  }
  try {
    boundsFromEnv();
  } catch (error) {
    return (error as Error).message;
  }
  // Asked for (CHAOS_BOX_NETNS=1), a box's own network namespace must be had.
  const net = boxNetsOn() ? boxNetProblem() : undefined;
  if (net) return `CHAOS_BOX_NETNS=1: ${net}`;
  const ns = run("unshare", [...NAMESPACES, "true"]);
  if (ns.code !== 0) return `unshare cannot make mount and pid namespaces here: ${ns.out}`;
  for (const [tool] of firewalls()) {
    // Exit 1 "does a matching rule exist" means the match loaded; anything else, it did not.
    const owner = run(tool, ["-w", "-C", "OUTPUT", ...ownerMatch(UID_RANGE.max), "-j", "ACCEPT"]);
    if (owner.code !== 0 && !/does a matching rule exist|Bad rule/i.test(owner.out)) {
      return `${tool} cannot match by owner (-m owner): ${owner.out}`;
    }
  }
  return null;
}

/** Live pids whose real, effective, saved or filesystem uid is `uid` (host's /proc). */
export function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${e.name}/status`);
      // A zombie runs nothing: it waits for its parent (maybe not ours) to reap it.
      if (/^State:\s+Z/m.test(status)) continue;
      const line = /^Uid:\s+(.*)$/m.exec(status)?.[1] ?? "";
      if (line.split(/\s+/).map(Number).includes(uid)) pids.push(Number(e.name));
    } catch { /* gone */ }
  }
  return pids;
}

/** Numeric ids named in /etc/passwd or /etc/group (field 3). */
function namedIds(): Set<number> {
  const ids = new Set<number>();
  for (const f of ["/etc/passwd", "/etc/group"]) {
    const text = (() => {
      try {
        return Deno.readTextFileSync(f);
      } catch {
        return "";
      }
    })();
    for (const line of text.split("\n")) {
      const id = Number(line.split(":")[2]);
      if (Number.isInteger(id)) ids.add(id);
    }
  }
  return ids;
}

/** The Deno cache folder (DENO_DIR) this Deno uses. */
function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  try {
    const info = JSON.parse(mustRun(Deno.execPath(), ["info", "--json"]));
    if (typeof info.denoDir === "string") return info.denoDir;
  } catch { /* fall back */ }
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return join(xdg ?? join(Deno.env.get("HOME") ?? "/root", ".cache"), "deno");
}

export interface SandboxOptions {
  /** The submission's folder: copied, and the copy shown writable at this path. */
  source: string;
  /**
   * Copy this (open) box's work folder and HOME instead of `source` (what its `setup` built),
   * the HOME shown at the same path as in `from`. Default: a fresh copy of `source`.
   */
  from?: Sandbox;
  /** More folders to hide (the grading's output folder). Always hidden: see `defaultHides`. */
  hide?: string[];
  /** More folders to show read-only. Always shown: the harness tree, Deno, DENO_DIR. */
  expose?: string[];
  /** Where the work folders are made. Default DEFAULT_BASE. */
  base?: string;
  /** Its disk and memory bounds. Default: the grader's (`boundsFromEnv`). */
  bounds?: BoxBounds;
}

/** Folders of the grader's home that never hold a toolchain a sandbox may see. */
const PRIVATE_IN_HOME = new Set([
  ".cache",
  ".config",
  ".ssh",
  ".gnupg",
  ".aws",
  ".docker",
  ".kube",
]);

/**
 * What of a toolchain in the grader's home a box sees, by the home's top folder on PATH: what it
 * runs from, never the whole folder (`~/.cargo` also holds the registry's cache and its
 * credentials, `~/.local` every program's data). A top folder not named here shows only the PATH
 * entry itself (`~/go/bin`, never `~/go/pkg`).
 */
const TOOLCHAIN_PARTS: Record<string, readonly string[]> = {
  // rustup's proxies in bin, the toolchains they run in ~/.rustup.
  ".cargo": [".cargo/bin", ".rustup"],
  // pip's --user programs and their packages (lib/pythonX.Y/site-packages).
  ".local": [".local/bin", ".local/lib"],
  // Version managers: their shims run the versions kept beside them.
  ".pyenv": [".pyenv"],
  ".nvm": [".nvm"],
  ".rbenv": [".rbenv"],
};

/**
 * The toolchains on the grader's PATH that live in the hidden home (`~/.pyenv/shims`,
 * `~/.cargo/bin`): what each needs (`TOOLCHAIN_PARTS`) of those that exist (`exists`), shown
 * read-only so that a submission finds the same `python3` or `node` as the grader. Never the
 * cache, the config, keys.
 */
export function homeToolchains(
  path = Deno.env.get("PATH") ?? "",
  home = Deno.env.get("HOME") ?? "/root",
  exists: (path: string) => boolean = isDirectory,
): string[] {
  const out = new Set<string>();
  for (const entry of path.split(":")) {
    if (!isAbsolute(entry) || !isUnder(entry, home) || entry === home) continue;
    const top = relative(home, entry).split("/")[0];
    if (PRIVATE_IN_HOME.has(top)) continue;
    const parts = Object.hasOwn(TOOLCHAIN_PARTS, top)
      ? TOOLCHAIN_PARTS[top].map((p) => join(home, p))
      : [resolve(entry)];
    for (const p of parts) if (exists(p)) out.add(p);
  }
  return [...out];
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The folder of the grader's own `python3` when it is reached through a version manager's shims
 * (pyenv): its shims would try to rehash into the read-only home after every `pip install`, and
 * fail. Undefined when there is no python3 or it is not a shim.
 */
function pythonBehindShims(): string | undefined {
  const which = run("sh", ["-c", "command -v python3"]);
  if (which.code !== 0 || !/\/shims\//.test(which.out)) return undefined;
  const real = run("python3", ["-c", "import os, sys; print(os.path.dirname(sys.executable))"]);
  return real.code === 0 && isAbsolute(real.out) ? real.out : undefined;
}

/** What every sandbox hides: the grader's home, run folders, stack state, the key and the cache. */
export function defaultHides(): string[] {
  return [
    Deno.env.get("HOME") ?? "/root",
    join(repoRoot, "reports", "runs"),
    join(repoRoot, ".chaos"),
    stateDir(),
    cacheDir(),
    harnessKeyPath(),
  ];
}

/** One sandbox (see the module's doc); made by `openSandbox`. */
export class Sandbox {
  readonly uid: number;
  /** `<base>/<uid>`: root's, 0711. */
  readonly dir: string;
  /** The submission's folder, as the submission sees it (its copy is bound there). */
  readonly cwd: string;
  /** HOME as the box sees it: `<dir>/home`, or the HOME of the box it was copied `from`. */
  readonly home: string;
  readonly #plan: MountPlan;
  readonly #path: string;
  readonly #denoDir: string;
  /** Its disk and memory bounds (sandbox_bounds.ts); undefined for a box made by hand. */
  readonly bounds: BoxBounds | undefined;
  #closed = false;
  /** Its cpu cgroup (joined first by its start script), if any. */
  readonly #cpuCgroup?: string;
  /** Its memory cgroup's last word, read when it was closed. */
  #memory: MemoryEvidence | undefined;
  /** Its own network namespace (box_net.ts), made with it under CHAOS_BOX_NETNS=1. */
  readonly #net: BoxNet | undefined;
  /** True while what it starts runs in `#net`. */
  #apart = false;

  constructor(
    uid: number,
    dir: string,
    plan: MountPlan,
    path: string,
    deno: string,
    home = join(dir, "home"),
    bounds?: BoxBounds,
    cpuCgroup?: string,
    net?: BoxNet,
  ) {
    this.#net = net;
    // In it from the start (reaching nothing until `network` says): argv wrapped before the
    // policy that lets it reach its endpoints (a component's) runs in it too.
    this.#apart = net !== undefined;
    this.#cpuCgroup = cpuCgroup;
    this.uid = uid;
    this.dir = dir;
    this.cwd = plan.cwd;
    this.home = home;
    this.#plan = plan;
    this.#path = path;
    this.#denoDir = deno;
    this.bounds = bounds;
  }

  /** Its memory cgroup folder (a wrapper outside the box reads its OOM kills there), if any. */
  get memoryCgroup(): string | undefined {
    return this.#plan.memoryCgroup;
  }

  /** Its cpu cgroup folder (its `cpu.shares` the bound), if any. */
  get cpuCgroup(): string | undefined {
    return this.#cpuCgroup;
  }

  /** What its memory cgroup says (bound, peak, OOM kills): now, or when it was closed. */
  memory(): MemoryEvidence | undefined {
    if (this.#closed || !this.#plan.memoryCgroup) return this.#memory;
    return memoryEvidence(this.uid);
  }

  /**
   * One line of evidence when the kernel OOM-killed processes of the box (more than `since`),
   * else undefined.
   */
  oomEvidence(who = `the sandbox of uid ${this.uid}`, since = 0): string | undefined {
    return oomLine(who, this.memory(), since);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get chain(): string {
    return chainName(this.uid);
  }

  /**
   * The environment of a sandboxed command: PATH (this Deno first, then the grader's, whose
   * folders in the hidden home show only as `homeToolchains`), HOME, TMPDIR, DENO_DIR.
   */
  env(): Record<string, string> {
    return {
      PATH: this.#path,
      HOME: this.home,
      TMPDIR: "/tmp",
      DENO_DIR: this.#denoDir,
      DENO_NO_UPDATE_CHECK: "1",
    };
  }

  /** Its own network namespace, if it has one (CHAOS_BOX_NETNS=1, once `network` made it). */
  get net(): BoxNet | undefined {
    return this.#apart ? this.#net : undefined;
  }

  /** The argv that runs `argv` in the sandbox (start it as root, in `cwd`, with `env()`). */
  wrap(argv: string[]): string[] {
    if (this.#closed) throw new SandboxError(`sandbox ${this.uid} is closed`);
    return [
      "unshare",
      ...NAMESPACES,
      "--kill-child",
      "--",
      // Into its own network namespace first, if it has one (nothing else of the box changes).
      ...(this.#apart && this.#net ? this.#net.wrap([]) : []),
      "bash",
      "-c",
      // Its CPU weight and descriptor bound first (sandbox_bounds.ts), then its mounts.
      limitsScript({ cpuCgroup: this.#cpuCgroup, nofile: this.bounds?.nofile ?? DEFAULT_NOFILE }) +
      "\n" + mountScript(this.#plan),
      "chaos-sandbox-init",
      ...argv,
    ];
  }

  /** Sets what the uid may reach from now on (the uid's chain is rewritten). */
  async network(policy: NetworkPolicy): Promise<void> {
    if (this.#closed) throw new SandboxError(`sandbox ${this.uid} is closed`);
    if (policy.kind === "pipeline") {
      const resolved = await resolveEndpoints(policy.endpoints);
      policy = { ...policy, endpoints: resolved.endpoints, dns: resolved.named };
    }
    // What its commands started from now on may bind (read by the Landlock helper at start).
    if (this.#plan.landlock) {
      Deno.writeTextFileSync(this.#plan.landlock.ports, listenPorts(policy));
    }
    writeChain(this.uid, policy, this.bounds?.connections);
    await this.#boxNet(policy);
  }

  /**
   * With its own network namespace (CHAOS_BOX_NETNS=1), what it starts under a `pipeline` or
   * `none` policy runs there, reaching what the policy allows: its sockets take none of the
   * host's ports. Under `setup` (the registries), or with endpoints off the host's loopback (a
   * gap), what it starts runs in the host's namespace again.
   */
  async #boxNet(policy: NetworkPolicy): Promise<void> {
    if (!this.#net) return;
    const endpoints = policy.kind === "pipeline" ? policy.endpoints : [];
    let apart = policy.kind !== "setup";
    if (apart) {
      try {
        loopbackEndpoints(endpoints);
      } catch (error) {
        gaps.add(`a box in the host's network namespace: ${(error as Error).message}`);
        apart = false;
      }
    }
    if (!apart) {
      // What runs in it already reaches nothing more (it is closed with the box).
      await this.#net.allow({ endpoints: [] });
      this.#apart = false;
      return;
    }
    await this.#net.allow({
      endpoints,
      publish: policy.kind === "pipeline" ? policy.listen : [],
      connections: this.bounds?.connections,
    });
    this.#apart = true;
  }

  /** Kills every process of the uid until none is left; the pids that survived `timeoutMs`. */
  async sweep(timeoutMs = 5_000): Promise<number[]> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pids = processesOf(this.uid);
      if (pids.length === 0) return [];
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      if (performance.now() > deadline) return processesOf(this.uid);
      await sleep(50);
    }
  }

  /**
   * Where the harness keeps this box's clock for the `clock` fault (compose/faketime.ts): the
   * box can read it (its stack's folder is hidden from it) but not change it, and the box's
   * full disk cannot stop the harness from writing it. Removed by `close`.
   */
  clockFile(): string {
    return join(dirname(this.dir), "clocks", `${this.uid}.rc`);
  }

  /**
   * Kills every process of the uid, removes the chain and the work folder. Returns what survived
   * (pids still of the uid); throws SandboxError when the chain or folder could not be removed.
   */
  async close(): Promise<{ survivors: number[] }> {
    if (this.#closed) return { survivors: [] };
    const survivors = await this.sweep();
    if (this.#plan.memoryCgroup) this.#memory = memoryEvidence(this.uid);
    this.#closed = true;
    try {
      await this.#net?.close();
    } finally {
      await closeResources(this.uid, this.dir);
    }
    await Deno.remove(this.clockFile()).catch(() => {});
    return { survivors };
  }
}

/**
 * A box's PATH from its parts (each a PATH of its own): only absolute folders. An empty or
 * relative entry means a folder relative to wherever a command runs, and the box's start script
 * runs as root from the team's folder before it drops its privileges: a `mount` of the team's
 * there would run as root. `/usr/bin:/bin` when nothing is left.
 */
export function boxPath(parts: readonly string[]): string {
  const folders = parts.flatMap((p) => p.split(":")).filter((f) => f.startsWith("/"));
  return folders.length ? [...new Set(folders)].join(":") : "/usr/bin:/bin";
}

/**
 * The uid a `Sandbox.wrap`ped argv runs as (read from its mount script's `setpriv`), or
 * undefined when `argv` is not one: two components run in one box when theirs are equal.
 */
export function wrappedUid(argv: readonly string[]): number | undefined {
  // A component's command is the box's argv behind the harness's log cap (log_cap.ts).
  argv = uncappedArgv(argv);
  if (argv[0] !== "unshare") return undefined;
  const script = argv.find((a) => a.includes("setpriv --reuid "));
  const m = script ? /\bexec setpriv --reuid (\d+) /.exec(script) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * Removes the uid's chain (and its jump), its memory cgroup (what is left in it killed), its
 * disk (unmounted, its loop device detached) and its folder; idempotent.
 */
async function closeResources(uid: number, dir: string): Promise<void> {
  removeChain(uid);
  await removeMemoryCgroup(uid);
  await removeCpuCgroup(uid);
  unmountDisk(dir);
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new SandboxError(`cannot remove the sandbox's folder ${dir}`, { cause: error });
    }
  }
}

/**
 * Sandboxes left by a grader that died (its pid, in `<base>/<uid>/grader.pid`, is gone): their
 * processes killed, chains and folders removed. Returns the uids cleaned.
 */
export async function cleanStale(base = DEFAULT_BASE): Promise<number[]> {
  // Their network namespaces too (box_net.ts), whether this grading makes any or not.
  if (staleBoxNetsThere()) await cleanStaleBoxNets();
  const cleaned: number[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(base)];
  } catch {
    return cleaned;
  }
  for (const e of entries) {
    const uid = Number(e.name);
    if (!Number.isInteger(uid) || uid < UID_RANGE.min || uid > UID_RANGE.max) continue;
    const dir = join(base, e.name);
    let owner = NaN;
    try {
      owner = Number(Deno.readTextFileSync(join(dir, "grader.pid")).trim());
    } catch {
      // No file: half made, stale too, unless it is being made now (another grader between its
      // folder and its pid file, or mounting its disk over both): left alone while young.
      if (youngFolder(dir)) continue;
    }
    if (Number.isInteger(owner) && owner > 0) {
      try {
        Deno.statSync(`/proc/${owner}`);
        continue; // its grader still runs
      } catch { /* dead */ }
    }
    const box = { uid, dir };
    for (const pid of processesOf(box.uid)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await sleep(50);
    await closeResources(box.uid, box.dir);
    cleaned.push(uid);
  }
  return cleaned;
}

/** How long a box's folder without a pid file may be in the making. */
const MAKING_MS = 10 * 60_000;

/** True when `dir` changed within MAKING_MS (or cannot be read: then nobody's to remove). */
export function youngFolder(dir: string, now = Date.now()): boolean {
  try {
    const mtime = Deno.statSync(dir).mtime?.getTime() ?? 0;
    return now - mtime < MAKING_MS;
  } catch {
    return true;
  }
}

/** A free uid of the range: no name, no process, no sandbox folder (reserved by its mkdir). */
function reserveUid(base: string): number {
  const named = namedIds();
  for (let tries = 0; tries < 200; tries++) {
    const span = UID_RANGE.max - UID_RANGE.min + 1;
    const uid = UID_RANGE.min + (crypto.getRandomValues(new Uint32Array(1))[0] % span);
    if (named.has(uid) || processesOf(uid).length > 0) continue;
    try {
      Deno.mkdirSync(join(base, String(uid)), { mode: 0o711 });
      return uid;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      throw new SandboxError(`cannot make a sandbox folder under ${base}`, { cause: error });
    }
  }
  throw new SandboxError(`no free uid in ${UID_RANGE.min}-${UID_RANGE.max}`);
}

/**
 * Makes the files of `dirs` readable by others where they are not (npm packages unpacked with
 * mode 0600): the sandbox's uid must be able to read the harness's dependencies.
 */
function readableByOthers(dirs: string[]): void {
  const there = dirs.filter((d) => {
    try {
      return Deno.statSync(d).isDirectory;
    } catch {
      return false;
    }
  });
  if (there.length === 0) return;
  mustRun("find", [
    ...there,
    "-type",
    "f",
    "!",
    "-perm",
    "-o=r",
    "-exec",
    "chmod",
    "o+r",
    "{}",
    "+",
  ]);
  mustRun("find", [
    ...there,
    "-type",
    "d",
    "!",
    "-perm",
    "-o=rx",
    "-exec",
    "chmod",
    "o+rx",
    "{}",
    "+",
  ]);
}

/** What the boxes made so far could not be given on this host (each said once). */
const gaps = new Set<string>();

/**
 * What this host's boxes lack (no Landlock scope, no memory bound…), for the grade to record: a
 * grade made without them trusts the submission that much more.
 */
export function sandboxGaps(): string[] {
  return [...gaps];
}

let unscoped = false;
/**
 * The box's Landlock helper and ports file (`any` until `network` says otherwise), or undefined
 * (said once) where this host has none.
 */
async function boxLandlock(
  base: string,
  dir: string,
): Promise<MountPlan["landlock"]> {
  const helper = await landlockHelper(base);
  if ("problem" in helper) {
    if (!unscoped) console.warn(`sandbox: ${helper.problem}`);
    unscoped = true;
    gaps.add(
      `boxes not scoped from each other (abstract sockets, signals, binds): ${helper.problem}`,
    );
    return undefined;
  }
  const ports = join(dir, "listen");
  Deno.writeTextFileSync(ports, "any", { mode: 0o644 });
  return { helper: helper.path, ports };
}

let cpuWarned = false;
/** Says once that the boxes' CPU is not weighted on this host (and why). */
function warnUnweighted(): void {
  const bound = cpuBound();
  if (cpuWarned || !("problem" in bound)) return;
  cpuWarned = true;
  console.warn(`sandbox: ${bound.problem}`);
  gaps.add(`boxes' CPU not weighted (a busy box may starve the brokers): ${bound.problem}`);
}

let warned = false;
/** Says once that the boxes' memory is not bounded on this host (and why). */
function warnUnbounded(): void {
  const bound = memoryBound();
  if (warned || !("problem" in bound)) return;
  warned = true;
  console.warn(`sandbox: ${bound.problem}`);
  gaps.add(`boxes' memory not bounded: ${bound.problem}`);
}

/**
 * Makes a sandbox: a uid, its bounded disk and memory (sandbox_bounds.ts), the copy of the
 * submission's folder (or of `from`'s), the mount plan.
 */
export async function openSandbox(o: SandboxOptions): Promise<Sandbox> {
  const why = sandboxSupport();
  if (why) throw new SandboxError(why);
  // A box's connections to the harness (the webhook receiver) take the grader's descriptors.
  const nofile = raiseNofileLimit();
  // Its hard limit may stay (root without CAP_SYS_RESOURCE): the receiver's cap bounds what a
  // pipeline takes of it (pipeline/connection_gate.ts); only a soft limit below it is a gap.
  if (nofile.soft < nofile.hard) {
    gaps.add(`the grader's limit on open files is ${nofile.soft}: ${nofile.problem}`);
  }
  const base = o.base ?? DEFAULT_BASE;
  Deno.mkdirSync(base, { recursive: true, mode: 0o711 });
  Deno.chmodSync(base, 0o711);
  await cleanStale(base);
  const source = resolve(o.source);
  if (o.from && (o.from.closed || o.from.cwd !== source)) {
    throw new SandboxError(
      `cannot copy sandbox ${o.from.uid}: ${o.from.closed ? "it is closed" : "another folder"}`,
    );
  }
  const bounds = { ...boundsFromEnv(), ...o.bounds };
  const uid = reserveUid(base);
  const dir = join(base, String(uid));
  let net: BoxNet | undefined;
  try {
    Deno.chmodSync(dir, 0o711);
    // Under the mount too: whatever is mounted there, another grader sees a live box.
    Deno.writeTextFileSync(join(dir, "grader.pid"), String(Deno.pid));
    // The box's writable space is a filesystem of its own, bounded (sandbox_bounds.ts).
    mountDisk(dir, bounds.diskMb);
    Deno.writeTextFileSync(join(dir, "grader.pid"), String(Deno.pid));
    const memoryCgroup = makeMemoryCgroup(uid, bounds.memoryMb);
    if (!memoryCgroup) warnUnbounded();
    const cpuCgroup = makeCpuCgroup(uid, bounds.cpuShares);
    if (!cpuCgroup) warnUnweighted();
    const landlock = await boxLandlock(base, dir);
    Deno.mkdirSync(join(dir, "stage"), { mode: 0o700 });
    mustRun("cp", ["-a", "--", o.from ? join(o.from.dir, "work") : source, join(dir, "work")]);
    Deno.mkdirSync(join(dir, "tmp"), { mode: 0o700 });
    if (o.from) mustRun("cp", ["-a", "--", join(o.from.dir, "home"), join(dir, "home")]);
    else Deno.mkdirSync(join(dir, "home"), { mode: 0o700 });
    for (const d of ["work", "home"]) {
      mustRun("chown", ["-R", "--no-dereference", `${uid}:${uid}`, join(dir, d)]);
    }
    mustRun("chown", [`${uid}:${uid}`, join(dir, "tmp")]);
    // The uid's alone: another box's uid cannot read it (nor a component another's).
    for (const d of ["work", "home", "tmp"]) Deno.chmodSync(join(dir, d), 0o700);
    const home = o.from?.home ?? join(dir, "home");
    const deno = denoDir();
    const denoBin = dirname(Deno.execPath());
    readableByOthers([join(repoRoot, "node_modules"), join(deno, "npm")]);
    const exposed = [repoRoot, denoBin, deno, ...homeToolchains(), ...(o.expose ?? [])]
      .map((p) => resolve(p));
    const plan: MountPlan = {
      // A hide over the submission's own folder would hide its copy: the copy is shown instead.
      hide: [...defaultHides(), ...(o.hide ?? [])].filter((h) => resolve(h) !== source),
      binds: [
        ...exposed.map((p) => ({ src: p, dst: p })),
        { src: join(dir, "work"), dst: source, rw: true },
        { src: join(dir, "home"), dst: home, rw: true },
        { src: join(dir, "tmp"), dst: "/tmp", rw: true },
        { src: join(dir, "tmp"), dst: "/var/tmp", rw: true },
      ],
      stage: join(dir, "stage"),
      cwd: source,
      uid,
      memoryCgroup,
      landlock,
    };
    const python = pythonBehindShims();
    const path = boxPath([denoBin, ...(python ? [python] : []), Deno.env.get("PATH") ?? ""]);
    net = boxNetsOn() ? await openBoxNet() : undefined;
    return new Sandbox(uid, dir, plan, path, deno, home, bounds, cpuCgroup, net);
  } catch (error) {
    await net?.close().catch(() => {});
    await closeResources(uid, dir);
    throw error;
  }
}
