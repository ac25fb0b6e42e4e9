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
 * `close()` kills every process of the uid (nothing of the submission runs
 * after the grade), removes the chain and the work folder.
 *
 * Needs root, util-linux `unshare` and `setpriv`, and iptables with the
 * `owner` match: `sandboxSupport()` names what is missing.
 *
 * ```ts
 * import { openSandbox } from "./sandbox.ts";
 * const box = await openSandbox({ source: "/srv/team-a", hide: ["/srv/grades"] });
 * await box.network({ kind: "setup" }); // registries yes, local ports no
 * const argv = box.wrap(["bash", "-c", "npm ci"]); // run with box.env(), in box.cwd
 * await box.network({ kind: "none" });
 * const sink = await openSandbox({ source: "/srv/team-a", from: box }); // a copy of box's work and HOME
 * await sink.network({ kind: "pipeline", endpoints: ["127.0.0.1:29111"] });
 * await sink.close();
 * await box.close();
 * ```
 * @module
 */

import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { cacheDir, repoRoot, stateDir } from "./paths.ts";
import { harnessKeyPath } from "../lib/harness_key.ts";
import { sleep } from "../lib/wait.ts";

/** A sandbox that cannot be made or closed as asked (the command and its output in the message). */
export class SandboxError extends Error {
  override name = "SandboxError";
}

/** How many processes and threads a box's uid may have at once (RLIMIT_NPROC). */
export const MAX_PROCESSES = 4096;
/** The range the sandbox's uids are drawn from. */
export const UID_RANGE = { min: 61000, max: 64999 } as const;
/** Where the work folders live: `<base>/<uid>/` (root, 0711). */
export const DEFAULT_BASE = "/var/lib/chaos-sandbox";
const CHAIN_PREFIX = "chaos-sb-";
/** `unshare`'s flags for the sandbox's namespaces: mount, pid (with its own /proc), ipc, uts. */
const NAMESPACES = ["--mount", "--pid", "--fork", "--mount-proc", "--ipc", "--uts"];

/** Who may be reached: `setup` also reaches non-local addresses (package registries). */
export type NetworkPolicy =
  | { kind: "setup" }
  | {
    kind: "pipeline";
    /** `ip:port` or URLs with an IPv4 host (Sandbox.network resolves names first). */
    endpoints: string[];
    /** Also the nameservers (an endpoint was given by name). Default false. */
    dns?: boolean;
  }
  | { kind: "none" };

/** One bind mount of the sandbox: `src` shown at `dst`, read-only unless `rw`. */
export interface Bind {
  src: string;
  dst: string;
  rw?: boolean;
}

/** What the mount namespace's start script does (see `mountScript`). */
export interface MountPlan {
  /** Folders (or files) covered by an empty read-only tmpfs (or /dev/null). */
  hide: string[];
  /** Binds, shown through hidden folders where they lie under one. */
  binds: Bind[];
  /** A root-only empty folder to build the hidden folders' replacements in. */
  stage: string;
  /** The folder the command starts in. */
  cwd: string;
  uid: number;
}

/** `'…'` quoting for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** True when `path` is `dir` or lies under it. */
export function isUnder(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * The pid 1 of the sandbox's pid namespace, run as the uid: it runs the command as its child and
 * passes on the signals a fault sends (a namespace's init only gets signals it handles, so the
 * command itself must not be pid 1), and exits with the command's code; the kernel then kills
 * whatever the command left in the namespace (`setsid -f` daemons included).
 */
export const PID1 = [
  '"$@" & c=$!',
  'for s in TERM INT HUP USR1 USR2 QUIT; do trap "kill -$s $c 2>/dev/null" $s; done',
  'while :; do wait "$c"; r=$?; kill -0 "$c" 2>/dev/null || exit "$r"; done',
].join("\n");

/**
 * The script run as root inside the new mount namespace before it drops to the uid: mounts
 * private, hidden folders covered (binds under them staged in a tmpfs that is then moved in
 * place), the other binds, every mount read-only but the writable binds and /proc, a private
 * /dev/shm, every inherited descriptor above 2 closed, then `setpriv` to the uid without any
 * capability, and PID1. Pure, for the tests.
 */
export function mountScript(plan: MountPlan): string {
  const q = shellQuote;
  const lines = ["set -e", "mount --make-rprivate /"];
  const binds = [...plan.binds].sort((a, b) => a.dst.length - b.dst.length);
  const hides = [...new Set(plan.hide.map((h) => resolve(h)))]
    .filter((h) => h !== "/")
    .sort((a, b) => a.length - b.length);
  const coveredBy = (p: string, hs: string[]) => hs.find((h) => isUnder(p, h));
  const staged = new Set<Bind>();
  const done: string[] = [];
  for (const h of hides) {
    // A hide inside one already covered is gone already (unless a bind shows it again).
    if (coveredBy(h, done) && !binds.some((b) => isUnder(h, b.dst))) continue;
    const under = binds.filter((b) => isUnder(b.dst, h) && b.dst !== h && !staged.has(b));
    if (under.length === 0) {
      lines.push(
        `if [ -d ${q(h)} ]; then mount -t tmpfs -o ro,mode=0755,size=4k chaos-hidden ${q(h)}; ` +
          `elif [ -e ${q(h)} ]; then mount --bind /dev/null ${q(h)}; fi`,
      );
    } else {
      lines.push(`if [ -d ${q(h)} ]; then`);
      lines.push(`mount -t tmpfs -o mode=0755,size=64k chaos-hidden ${q(plan.stage)}`);
      for (const b of under) {
        const at = join(plan.stage, relative(h, b.dst));
        lines.push(`mkdir -p ${q(at)}`, `mount --bind ${q(b.src)} ${q(at)}`);
        staged.add(b);
      }
      lines.push(`mount --move ${q(plan.stage)} ${q(h)}`, "fi");
    }
    done.push(h);
  }
  // A read-only folder shown under a writable bind (the harness tree under /tmp, as in a clone
  // there) would be covered by it: captured first, with the hides inside it, and shown again.
  const pre = new Map<Bind, string>();
  const covering = binds.filter((b) => b.rw);
  for (const b of binds) {
    if (b.rw || staged.has(b)) continue;
    if (!covering.some((c) => c.dst !== b.dst && isUnder(b.dst, c.dst))) continue;
    const at = join(dirname(plan.stage), "pre", String(pre.size));
    lines.push(`mkdir -p ${q(at)}`, `mount --rbind ${q(b.src)} ${q(at)}`);
    pre.set(b, at);
  }
  for (const b of binds) {
    // A read-only bind of a folder onto itself outside every hide adds nothing (all is read-only
    // below), and would cover the hides inside it.
    if (staged.has(b) || (!b.rw && b.src === b.dst && !pre.has(b))) continue;
    const from = pre.get(b);
    lines.push(
      `mkdir -p ${q(b.dst)}`,
      from ? `mount --rbind ${q(from)} ${q(b.dst)}` : `mount --bind ${q(b.src)} ${q(b.dst)}`,
    );
  }
  const keep = ["/proc", "/proc/*", ...binds.filter((b) => b.rw).map((b) => q(b.dst))];
  lines.push(
    "while read -r _ _ _ _ m _; do",
    '  m=$(printf "%b" "$m")',
    `  case "$m" in ${keep.join("|")}) continue;; esac`,
    '  mount -o remount,bind,ro "$m" 2>/dev/null || true',
    "done </proc/self/mountinfo",
    "mount -t tmpfs -o mode=1777,nosuid,nodev,size=256m chaos-shm /dev/shm",
    // Descriptors the grader inherited (a lock held by `flock`, a pipe) do not reach the command.
    'for f in /proc/$$/fd/*; do f=${f##*/}; if [ "$f" -gt 2 ]; then eval "exec $f>&-"; fi; done',
    // Whatever is still writable but the work folders is a failure of the sandbox, not a risk.
    `cd -- ${q(plan.cwd)}`,
    // Its uid's processes and threads are bounded (a fork bomb stays inside the box).
    `ulimit -u ${MAX_PROCESSES}`,
    `exec setpriv --reuid ${plan.uid} --regid ${plan.uid} --clear-groups --no-new-privs ` +
      `--inh-caps=-all --bounding-set=-all -- bash -c ${q(PID1)} chaos-sandbox "$@"`,
  );
  return lines.join("\n");
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** What setup never reaches: link-local (instance metadata), private and shared (CGNAT) ranges. */
export const PRIVATE_V4 = [
  "169.254.0.0/16",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
];
/** Link-local and unique-local IPv6. */
export const PRIVATE_V6 = ["fe80::/10", "fc00::/7"];
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+)\/\d{1,3}$/i;

/**
 * The private ranges setup may reach anyway (a package mirror on the local network):
 * `CHAOS_SANDBOX_SETUP_ALLOW`, comma-separated CIDRs; anything else in it is refused.
 */
export function setupAllowFromEnv(
  value = Deno.env.get("CHAOS_SANDBOX_SETUP_ALLOW") ?? "",
): string[] {
  const cidrs = value.split(",").map((c) => c.trim()).filter(Boolean);
  for (const c of cidrs) {
    if (!CIDR.test(c)) {
      throw new SandboxError(
        `CHAOS_SANDBOX_SETUP_ALLOW: ${JSON.stringify(c)} is no CIDR (e.g. 10.1.2.0/24)`,
      );
    }
  }
  return cidrs;
}

/**
 * The iptables (`family` 4) or ip6tables (6) rules of a policy: the chain's body, each an argv
 * after `-A <chain>`. The contract's endpoints are IPv4: over IPv6 a pipeline reaches nothing.
 */
export function chainRules(
  policy: NetworkPolicy,
  nameservers: string[],
  family: 4 | 6 = 4,
  setupAllow: string[] = [],
): string[][] {
  const rules: string[][] = [
    ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
  ];
  const mine = nameservers.filter((ns) => IPV4.test(ns) === (family === 4));
  const dns = () =>
    mine.flatMap((ns) =>
      ["udp", "tcp"].map((p) => ["-p", p, "-d", ns, "--dport", "53", "-j", "ACCEPT"])
    );
  if (policy.kind === "pipeline") {
    for (const e of policy.endpoints) {
      const { host, port } = splitHostPort(e);
      if (!IPV4.test(host)) {
        throw new SandboxError(`cannot allow endpoint ${JSON.stringify(e)}: not an IPv4 address`);
      }
      if (family === 4) {
        rules.push(["-p", "tcp", "-d", host, "--dport", String(port), "-j", "ACCEPT"]);
      }
    }
    if (policy.dns) rules.push(...dns());
  } else if (policy.kind === "setup") {
    rules.push(...dns());
    // Not this host's own addresses (the stack, the grader), not loopback: the rest is the world.
    rules.push(["-d", family === 4 ? "127.0.0.0/8" : "::1/128", "-j", "REJECT"]);
    rules.push(["-m", "addrtype", "--dst-type", "LOCAL", "-j", "REJECT"]);
    // A private mirror the grader named (CHAOS_SANDBOX_SETUP_ALLOW) before the private ranges.
    for (const cidr of setupAllow.filter((c) => c.includes(":") === (family === 6))) {
      rules.push(["-d", cidr, "-j", "ACCEPT"]);
    }
    // Not the cloud's instance metadata, the local networks, other runs' containers.
    for (const cidr of family === 4 ? PRIVATE_V4 : PRIVATE_V6) {
      rules.push(["-d", cidr, "-j", "REJECT"]);
    }
    rules.push(["-j", "ACCEPT"]);
  }
  rules.push(["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]);
  rules.push(["-j", "REJECT"]);
  return rules;
}

/** `host:port`, `[v6]:port` or a URL, into its host (`localhost`: 127.0.0.1) and port. */
export function splitHostPort(endpoint: string): { host: string; port: number } {
  let hostPort = endpoint.trim();
  let defaultPort: number | undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(hostPort)) {
    const url = new URL(hostPort);
    defaultPort = { "http:": 80, "https:": 443 }[url.protocol];
    hostPort = url.port ? `${url.hostname}:${url.port}` : `${url.hostname}:${defaultPort ?? ""}`;
  }
  const m = /^(.*):(\d+)$/.exec(hostPort);
  if (!m) throw new SandboxError(`cannot allow endpoint ${JSON.stringify(endpoint)}: no port`);
  let host = m[1].replace(/^\[|\]$/g, "");
  if (host === "localhost") host = "127.0.0.1";
  return { host, port: Number(m[2]) };
}

/** Endpoints with their names resolved (IPv4, `A` records): `ip:port` each, and whether any had a name. */
export async function resolveEndpoints(
  endpoints: string[],
): Promise<{ endpoints: string[]; named: boolean }> {
  const out: string[] = [];
  let named = false;
  for (const e of endpoints) {
    const { host, port } = splitHostPort(e);
    if (IPV4.test(host)) {
      out.push(`${host}:${port}`);
      continue;
    }
    named = true;
    let ips: string[];
    try {
      ips = await Deno.resolveDns(host, "A");
    } catch (error) {
      throw new SandboxError(`cannot allow endpoint ${e}: ${host} does not resolve`, {
        cause: error,
      });
    }
    for (const ip of ips) out.push(`${ip}:${port}`);
  }
  return { endpoints: out, named };
}

function run(cmd: string, args: string[]): { code: number; out: string } {
  try {
    const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .outputSync();
    const dec = new TextDecoder();
    return { code: o.code, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).trim() };
  } catch (error) {
    return { code: 127, out: `${cmd}: ${(error as Error).message}` };
  }
}

function mustRun(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) {
    throw new SandboxError(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.out}`);
  }
  return r.out;
}

/** Why submissions cannot be sandboxed here (what is needed), or null when they can. */
export function sandboxSupport(): string | null {
  if (Deno.build.os !== "linux") return `the sandbox needs Linux (this is ${Deno.build.os})`;
  if (Deno.uid() !== 0) {
    return `the sandbox needs root (to switch to a uid of its own, mount namespaces and ` +
      `iptables); this is uid ${Deno.uid()}`;
  }
  for (const tool of ["unshare", "setpriv", "iptables"]) {
    if (run(tool, ["--version"]).code === 127) {
      return `the sandbox needs ${tool} (util-linux, iptables) on PATH`;
    }
  }
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

function nameservers(): string[] {
  try {
    return [...Deno.readTextFileSync("/etc/resolv.conf").matchAll(/^nameserver\s+(\S+)/gm)]
      .map((m) => m[1]).filter((ns) => /^\d{1,3}(\.\d{1,3}){3}$/.test(ns));
  } catch {
    return [];
  }
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
 * The toolchains on the grader's PATH that live in the hidden home (`~/.pyenv/shims`,
 * `~/.cargo/bin`): their top folder in the home, shown read-only so that a submission finds the
 * same `python3` or `node` as the grader. Never the cache, the config, keys.
 */
export function homeToolchains(
  path = Deno.env.get("PATH") ?? "",
  home = Deno.env.get("HOME") ?? "/root",
): string[] {
  const out = new Set<string>();
  for (const entry of path.split(":")) {
    if (!isAbsolute(entry) || !isUnder(entry, home) || entry === home) continue;
    const top = relative(home, entry).split("/")[0];
    if (!PRIVATE_IN_HOME.has(top)) out.add(join(home, top));
  }
  return [...out];
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
  #closed = false;

  constructor(
    uid: number,
    dir: string,
    plan: MountPlan,
    path: string,
    deno: string,
    home = join(dir, "home"),
  ) {
    this.uid = uid;
    this.dir = dir;
    this.cwd = plan.cwd;
    this.home = home;
    this.#plan = plan;
    this.#path = path;
    this.#denoDir = deno;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get chain(): string {
    return `${CHAIN_PREFIX}${this.uid}`;
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

  /** The argv that runs `argv` in the sandbox (start it as root, in `cwd`, with `env()`). */
  wrap(argv: string[]): string[] {
    if (this.#closed) throw new SandboxError(`sandbox ${this.uid} is closed`);
    return [
      "unshare",
      ...NAMESPACES,
      "--kill-child",
      "--",
      "bash",
      "-c",
      mountScript(this.#plan),
      "chaos-sandbox-init",
      ...argv,
    ];
  }

  /** Sets what the uid may reach from now on (the uid's chain is rewritten). */
  async network(policy: NetworkPolicy): Promise<void> {
    if (this.#closed) throw new SandboxError(`sandbox ${this.uid} is closed`);
    if (policy.kind === "pipeline") {
      const resolved = await resolveEndpoints(policy.endpoints);
      policy = { kind: "pipeline", endpoints: resolved.endpoints, dns: resolved.named };
    }
    for (const [tool, family] of firewalls()) {
      const rules = chainRules(policy, nameservers(), family, setupAllowFromEnv());
      if (run(tool, ["-w", "-F", this.chain]).code !== 0) {
        mustRun(tool, ["-w", "-N", this.chain]);
        mustRun(tool, ["-w", "-I", "OUTPUT", ...ownerMatch(this.uid), "-j", this.chain]);
      }
      for (const r of rules) mustRun(tool, ["-w", "-A", this.chain, ...r]);
    }
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
   * Kills every process of the uid, removes the chain and the work folder. Returns what survived
   * (pids still of the uid); throws SandboxError when the chain or folder could not be removed.
   */
  async close(): Promise<{ survivors: number[] }> {
    if (this.#closed) return { survivors: [] };
    const survivors = await this.sweep();
    this.#closed = true;
    closeResources(this.uid, this.dir);
    return { survivors };
  }
}

/**
 * The uid a `Sandbox.wrap`ped argv runs as (read from its mount script's `setpriv`), or
 * undefined when `argv` is not one: two components run in one box when theirs are equal.
 */
export function wrappedUid(argv: readonly string[]): number | undefined {
  if (argv[0] !== "unshare") return undefined;
  const script = argv.find((a) => a.includes("setpriv --reuid "));
  const m = script ? /\bexec setpriv --reuid (\d+) /.exec(script) : null;
  return m ? Number(m[1]) : undefined;
}

function ownerMatch(uid: number): string[] {
  return ["-m", "owner", "--uid-owner", String(uid)];
}

/** True when this host has IPv6 addresses (then ip6tables must hold the chain too). */
function hasIpv6(): boolean {
  try {
    return Deno.readTextFileSync("/proc/net/if_inet6").trim() !== "";
  } catch {
    return false;
  }
}

/** The firewalls that hold a sandbox's chain: iptables, and ip6tables where IPv6 is up. */
function firewalls(): [string, 4 | 6][] {
  return hasIpv6() ? [["iptables", 4], ["ip6tables", 6]] : [["iptables", 4]];
}

/** Removes the uid's chain (and its jump) and its work folder; idempotent. */
function closeResources(uid: number, dir: string): void {
  const chain = `${CHAIN_PREFIX}${uid}`;
  const jump = ["OUTPUT", ...ownerMatch(uid), "-j", chain];
  for (const [tool] of firewalls()) {
    while (run(tool, ["-w", "-D", ...jump]).code === 0) { /* every copy of the jump */ }
    if (run(tool, ["-w", "-F", chain]).code === 0) mustRun(tool, ["-w", "-X", chain]);
  }
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
    } catch { /* no file: half made, stale too */ }
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
    closeResources(box.uid, box.dir);
    cleaned.push(uid);
  }
  return cleaned;
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

/** Makes a sandbox: a uid, the copy of the submission's folder (or of `from`'s), the mount plan. */
export async function openSandbox(o: SandboxOptions): Promise<Sandbox> {
  const why = sandboxSupport();
  if (why) throw new SandboxError(why);
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
  const uid = reserveUid(base);
  const dir = join(base, String(uid));
  try {
    Deno.chmodSync(dir, 0o711);
    Deno.writeTextFileSync(join(dir, "grader.pid"), String(Deno.pid));
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
    };
    const python = pythonBehindShims();
    const path = [denoBin, ...(python ? [python] : []), Deno.env.get("PATH") ?? "/usr/bin:/bin"]
      .join(":");
    return new Sandbox(uid, dir, plan, path, deno, home);
  } catch (error) {
    closeResources(uid, dir);
    throw error;
  }
}
