/**
 * A supervised child process with a pid file, a log file and the signal-level
 * faults every local node supports: `kill()` (SIGKILL), `stop()` (SIGTERM, then
 * SIGKILL after a grace period), `pause()` (SIGSTOP), `resume()` (SIGCONT) and
 * `start()` (same command, same data dir).
 *
 * Children run in a session of their own (`setsid`), so a Ctrl-C at the
 * terminal reaches the harness, which then heals and stops them in order, and
 * not the services directly. The pid file lets another process (`deno task
 * down`, the next `up`, the stack's watchdog) find and stop them. The pid file
 * holds the pid and the process's start time (from /proc), and a pid is only
 * trusted while its start time matches, so a recycled pid is never signalled.
 *
 * A node given a `cgroup` (the pipeline's components) runs in a freezer cgroup
 * of its own (freezer.ts), which its start script joins before it execs the
 * command: then the faults reach every process it started, in whatever session
 * (`setsid -f`), `kill()` waits until the cgroup is empty, `pause()` freezes it,
 * `state()` is "dead" only when nothing is left in it, and `stop()` removes it
 * (throwing CgroupSurvivorsError when something survived). Its pid file also
 * names the cgroup, so that the stack's watchdog empties it if the harness is
 * SIGKILLed. `limitCpu` limits the cgroup (see cgroup.ts). Without a usable
 * freezer (not root) the node warns once and keeps to process-group signals.
 *
 * Acting on a node that is not running (nothing left in its cgroup) throws
 * `NotRunningError`: a component found dead when a fault is due.
 *
 * ```ts
 * import { ProcessNode } from "./process_node.ts";
 * const node = new ProcessNode({ name: "redis", cmd: "redis-server", args: ["--port", "29020", "--dir", "/tmp/r"],
 *   logFile: "/tmp/r/redis.log", pidFile: "/tmp/r/redis.pid" });
 * await node.start();
 * await node.pause(); await node.resume(); await node.kill();
 * ```
 * @module
 */

import { sleep, waitFor } from "../lib/wait.ts";
import { CpuLimit, type CpuLimitHandle, limitCpuInPlace } from "./cgroup.ts";
import { descendants, readProcesses } from "./cpu.ts";
import { type CgroupFreezer, CgroupSurvivorsError, openFreezer } from "./freezer.ts";

export interface ProcessSpec {
  /** Node name, unique in a stack: `kafka-1`, `minio`, `redis`, `toxiproxy`. */
  name: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  /** Run with `env` only, none of the harness's own environment. Default false. */
  clearEnv?: boolean;
  cwd?: string;
  logFile: string;
  /** Holds "<pid> <start time in clock ticks>" (and, with a cgroup, its directory). */
  pidFile: string;
  /**
   * A freezer cgroup for the node's processes, `chaos-<run id>/<node>` (see freezer.ts). Default:
   * none, the node's process group only.
   */
  cgroup?: string;
}

export type ProcessState = "running" | "paused" | "dead";

export class ProcessNodeError extends Error {
  override name = "ProcessNodeError";
}

/** An action on a node that is not running (nothing left of it): it has nothing to act on. */
export class NotRunningError extends ProcessNodeError {
  override name = "NotRunningError";
  constructor(readonly node: string, action: string) {
    super(`cannot ${action} ${node}: it is not running`);
  }
}

/** A node's cgroup: its directory, the hierarchy's version and root. */
export interface NodeCgroup {
  dir: string;
  version: 1 | 2;
  base: string;
}

export interface ProcessNodeOptions {
  /** Makes the node's freezer cgroup (default `openFreezer`; a test may hand a stand-in). */
  openFreezer?: (name: string) => CgroupFreezer | undefined;
}

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, ...]. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat). */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/**
 * Reads the state of `pid` from /proc: "dead" when it is gone, a zombie, or
 * (given `startTime`) a different process that reuses the pid.
 */
export function processState(pid: number, startTime?: string): ProcessState {
  const fields = statFields(pid);
  if (!fields) return "dead";
  const state = fields[0];
  if (state === "Z" || state === "X") return "dead";
  // PF_EXITING (flags, field 9): past the point of no return. A pid namespace's init (a
  // sandboxed component, compose/sandbox.ts) stays so, out of its cgroup, until its namespace
  // is reaped.
  if ((Number(fields[6]) & 0x4) !== 0) return "dead";
  if (startTime !== undefined && fields[19] !== startTime) return "dead";
  return state === "T" || state === "t" ? "paused" : "running";
}

/**
 * Sends `sig` to the process group `pid` leads (every node is started by `setsid`, so its pid
 * is its group's id): a component started through a wrapper (`npm start`, `bash -c`) is hit
 * together with its children. Falls back to the pid alone when the group is gone.
 */
function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(-pid, sig);
    return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    Deno.kill(pid, sig);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

export class ProcessNode {
  readonly spec: ProcessSpec;
  #child: Deno.ChildProcess | undefined;
  /** The node's freezer cgroup, once made (at the first start). */
  #freezer: CgroupFreezer | undefined;
  readonly #openFreezer: (name: string) => CgroupFreezer | undefined;

  constructor(spec: ProcessSpec, options: ProcessNodeOptions = {}) {
    this.spec = spec;
    this.#openFreezer = options.openFreezer ?? openFreezer;
  }

  get name(): string {
    return this.spec.name;
  }

  #identity(): { pid: number; start: string } | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.spec.pidFile).trim();
    } catch {
      return undefined;
    }
    const [pidText, start] = text.split(/\s+/);
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0 || !start) return undefined;
    return { pid, start };
  }

  /** The pid from the pid file, when that process is still alive. */
  pid(): number | undefined {
    const id = this.#identity();
    if (!id) return undefined;
    return processState(id.pid, id.start) === "dead" ? undefined : id.pid;
  }

  /** The same as `state()`: a process's state is read from /proc each time. */
  refresh(): Promise<ProcessState> {
    return Promise.resolve(this.state());
  }

  /** Pids in the node's cgroup now (undefined without one). */
  members(): number[] | undefined {
    return this.#freezer?.members();
  }

  /** The node's cgroup (undefined without one, or before its first start). */
  cgroup(): NodeCgroup | undefined {
    const f = this.#freezer;
    return f && { dir: f.dir, version: f.version, base: f.base };
  }

  state(): ProcessState {
    const freezer = this.#freezer;
    if (freezer) {
      if (freezer.members().length === 0) return "dead";
      return freezer.frozen() ? "paused" : "running";
    }
    const id = this.#identity();
    return id ? processState(id.pid, id.start) : "dead";
  }

  /** Starts the process unless it already runs. Resolves once it is spawned. */
  start(): Promise<void> {
    if (this.pid() !== undefined || this.state() !== "dead") return Promise.resolve();
    const { cmd, args, env, cwd, logFile, clearEnv } = this.spec;
    if (this.spec.cgroup) {
      if (this.#freezer) this.#freezer.ensure();
      else this.#freezer = this.#openFreezer(this.spec.cgroup);
    }
    // With a cgroup, the script joins it before the exec: all the command forks inherits it.
    const join = this.#freezer
      ? 'echo $$ >"$cg/cgroup.procs" || { echo "cannot join $cg" >>"$log"; exit 97; }; '
      : "";
    const script = `log=$1; cg=$2; shift 2; ${join}exec "$@" >>"$log" 2>&1`;
    try {
      this.#child = new Deno.Command("setsid", {
        args: ["sh", "-c", script, "sh", logFile, this.#freezer?.dir ?? "", cmd, ...args],
        env,
        clearEnv: clearEnv ?? false,
        cwd,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch (error) {
      throw new ProcessNodeError(`Cannot start ${this.name}: ${cmd} could not be spawned`, {
        cause: error,
      });
    }
    // The status promise reaps the child when it exits; never keep the harness alive for it.
    this.#child.status.catch(() => {});
    this.#child.unref();
    const pid = this.#child.pid;
    const start = processStartTime(pid);
    if (start === undefined) {
      throw new ProcessNodeError(`${this.name} (pid ${pid}) exited at once; see ${logFile}`);
    }
    // The cgroup too: the watchdog empties it when the harness dies (compose/local_services.ts).
    const cg = this.#freezer ? ` ${this.#freezer.dir}` : "";
    Deno.writeTextFileSync(this.spec.pidFile, `${pid} ${start}${cg}`);
    // The script joins too; joined here at once, `state()` holds from now on.
    try {
      this.#freezer?.join(pid);
    } catch { /* exited meanwhile: the script's own join decides */ }
    return Promise.resolve();
  }

  /** SIGKILL, then waits until the process is gone. */
  async kill(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#freezer) return await this.#killCgroup(options.timeoutMs ?? 10_000);
    const pid = this.pid();
    if (pid === undefined) return;
    signal(pid, "SIGKILL");
    await this.#waitDead(pid, options.timeoutMs ?? 10_000);
  }

  /** SIGTERM (after SIGCONT, so a paused process can act on it), SIGKILL after `graceMs`. */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    const freezer = this.#freezer;
    if (freezer) {
      if (freezer.members().length > 0) {
        await freezer.thaw();
        await freezer.signalAll("SIGTERM");
        const deadline = performance.now() + (options.graceMs ?? 30_000);
        while (freezer.members().length > 0 && performance.now() < deadline) await sleep(50);
        await this.#killCgroup(10_000);
      }
      return await freezer.remove();
    }
    const pid = this.pid();
    if (pid === undefined) return;
    signal(pid, "SIGCONT");
    signal(pid, "SIGTERM");
    try {
      await this.#waitDead(pid, options.graceMs ?? 30_000);
    } catch {
      signal(pid, "SIGKILL");
      await this.#waitDead(pid, 10_000);
    }
  }

  /** SIGSTOP: the process freezes with its sockets open. */
  async pause(): Promise<void> {
    if (this.#freezer) {
      if (this.state() === "dead") throw new NotRunningError(this.name, "pause");
      if (!(await this.#freezer.freeze(10_000))) {
        throw new ProcessNodeError(`${this.name}'s cgroup ${this.#freezer.dir} did not freeze`);
      }
      return;
    }
    const pid = this.#requirePid("pause");
    signal(pid, "SIGSTOP");
    await waitFor(() => processState(pid) === "paused", { what: `${this.name} to pause` });
  }

  /** SIGCONT. */
  async resume(): Promise<void> {
    if (this.#freezer) {
      if (!(await this.#freezer.thaw(10_000))) {
        throw new ProcessNodeError(`${this.name}'s cgroup ${this.#freezer.dir} did not thaw`);
      }
      return;
    }
    const pid = this.pid();
    if (pid === undefined) return;
    signal(pid, "SIGCONT");
    await waitFor(() => processState(pid) !== "paused", { what: `${this.name} to resume` });
  }

  /**
   * A cgroup CPU quota on the node (see cgroup.ts): its cgroup's members (v1: moved, followed
   * while they move; v2: the quota set on its own cgroup), or without one its process tree.
   */
  async limitCpu(cores: number): Promise<CpuLimitHandle> {
    const freezer = this.#freezer;
    if (freezer) {
      const first = freezer.members()[0];
      if (first === undefined) throw new NotRunningError(this.name, "limit the CPU of");
      if (freezer.version === 2) return await limitCpuInPlace(freezer.base, freezer.dir, cores);
      const limit = await CpuLimit.apply(`${this.name}-${first}`, () => freezer.members(), cores);
      return { cores: await limit.readBack(), lift: () => limit.lift() };
    }
    const pid = this.#requirePid("limit the CPU of");
    const pids = [pid, ...descendants(readProcesses(), pid)];
    const limit = await CpuLimit.apply(`${this.name}-${pid}`, pids, cores);
    return { cores: await limit.readBack(), lift: () => limit.lift() };
  }

  /**
   * Kills with SIGKILL and starts again on the same data; with a cgroup, only once it is empty
   * (else CgroupSurvivorsError, naming what survived, and nothing is started).
   */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** The last `lines` lines of the node's log (for error messages). */
  async tail(lines = 20): Promise<string> {
    try {
      const text = await Deno.readTextFile(this.spec.logFile);
      return text.trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  #requirePid(action: string): number {
    const pid = this.pid();
    if (pid === undefined) throw new NotRunningError(this.name, action);
    return pid;
  }

  /** Kills every member of the cgroup; CgroupSurvivorsError when some outlive `timeoutMs`. */
  async #killCgroup(timeoutMs: number): Promise<void> {
    const freezer = this.#freezer!;
    const survivors = await freezer.killAll(timeoutMs);
    if (survivors.length > 0) throw new CgroupSurvivorsError(freezer.dir, survivors);
  }

  async #waitDead(pid: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const start = this.#identity()?.start;
    while (processState(pid, start) !== "dead") {
      if (performance.now() > deadline) {
        throw new ProcessNodeError(`${this.name} (pid ${pid}) still alive after ${timeoutMs} ms`);
      }
      await sleep(50);
    }
  }
}
