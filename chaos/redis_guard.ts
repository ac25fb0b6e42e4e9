/**
 * The Redis guard: a pipeline under test may run Lua scripts and functions
 * (`EVAL`, `FCALL`: a dedupe is rightly written as one, and the contract does
 * not forbid them), and one that never ends blocks Redis for every client.
 * The harness's own Redis commands (the stack's health probes, the steady
 * state, the rollback, the settle) would then fail, and a run that cannot see
 * its stack healthy is `unknown`: a cheating pipeline would turn its failing
 * grade into no grade. The guard watches for it during the whole run and makes
 * it the pipeline's failure instead:
 *
 * - It probes Redis as the harness (`PING`, a new connection every
 *   `intervalMs`). On a stack the harness owns it first sets
 *   `busy-reply-threshold` to BUSY_REPLY_THRESHOLD_MS (again on every probe:
 *   a restarted Redis forgets it): a script that runs longer makes Redis
 *   answer `-BUSY` instead of nothing, well within the harness's probe
 *   timeouts (2 s and more), so a script long enough to fail a probe shows
 *   as BUSY. Only a `-BUSY` answer is evidence: a Redis that does not answer
 *   at all is stopped, frozen or killed (by a fault of the scenario's, or by
 *   the pipeline's script in its first second) and is not blamed.
 * - On BUSY it ends the script: `SCRIPT KILL`, else `FUNCTION KILL` (each
 *   ends only its kind). A script that has written answers `UNKILLABLE`: only
 *   `SHUTDOWN NOSAVE` or a kill ends it, and its writes are lost either way
 *   (Redis applies a script's writes to its append-only file only when it
 *   ends). On the local and docker stacks, which the harness owns, the guard
 *   restarts Redis (`restart`: SIGKILL and start on the same data, as the
 *   `restart` fault does; everything acknowledged before is in the
 *   append-only file, fsynced on every write). On an external stack Redis is
 *   someone else's: it is left as it is, and the run still fails.
 * - Each block is recorded in the history (`redis-busy`, with how long Redis
 *   was blocked and how it was ended) and `stop()` returns the finding, which
 *   the engine makes the submission's failure: the run FAILS (results.json's
 *   reasons: "the submission failed: the pipeline blocked Redis with a script
 *   for 4.2 s …"). A script that ended by itself before the guard could end
 *   it (`NOTBUSY`) ran over the threshold once and is only recorded (`info`).
 * - Commands block Redis without BUSY too (`SUNIONSTORE` of large sets, a
 *   script just under the threshold, run back to back): on a stack the
 *   harness owns the guard has Redis's SLOWLOG log every command of
 *   SLOWLOG_MIN_US and more (again on every probe) and reads the entries
 *   newer than its last read on every probe (never resetting it: nothing
 *   earlier than its start counts, a read that times out loses nothing, and
 *   entries Redis dropped unread count against the pipeline). A command of
 *   SLOW_COMMAND_MS or more, or commands that add up to SLOW_WINDOW_MS within
 *   SLOW_WINDOW_SPAN_MS, fail the run as a BUSY script does (`redis-slow` in
 *   the history, with each command's name, length and client). Not blamed:
 *   the harness's own commands (those the pipeline's Redis user may not run:
 *   `ADMIN_COMMANDS`), a command a script called (Redis logs it besides the
 *   script), a script already counted as BUSY, and whatever ran
 *   while a fault of the scenario's held Redis (a frozen Redis makes the
 *   command that was running look long).
 * - Commands too short for the SLOWLOG block Redis too when a client sends
 *   many at once (Redis runs what it read of a client's query buffer in one
 *   go: a thousand pipelined scripts of 7 ms hold it for seconds). On a stack
 *   the harness owns every probe also reads Redis's own main-thread CPU
 *   (`INFO cpu`; on the local and docker stacks `/proc/<pid>/task/<pid>/stat`
 *   instead, which the harness reads without Redis answering: `pid`). A wait
 *   for `PONG` of STALL_MS or more (counted from the first probe that went
 *   unanswered) is a stall, judged when Redis answers again or, still open,
 *   when the guard stops (the run's verdict is taken then: a pipeline that
 *   holds Redis through the rollback fails, it does not make the run
 *   unknown): when Redis's main thread was on its CPU for at least
 *   STALL_BUSY_SHARE of the span between the readings, Redis was busy running
 *   commands (the harness sends only short ones, and short commands of many
 *   clients never hold a PING a second): the pipeline held it. So did it when
 *   Redis took in AOF_STALL_BYTES or more meanwhile (its append-only file or
 *   its clients' input: `INFO persistence`, `INFO stats`; with
 *   `appendfsync always` Redis writes and fsyncs big values in its main
 *   thread, off its CPU, and the harness writes only small things). Otherwise
 *   the host starved or froze Redis, and nobody is blamed. Stalls that add up
 *   to SLOW_WINDOW_MS within SLOW_WINDOW_SPAN_MS fail the run (`redis-held`
 *   in the history, with the wait, the span, the CPU time and the bytes).
 *   Excused: a BUSY script's time, and a fault's on Redis up to its heal's end
 *   and FAULT_GRACE_MS more (what the wait lasted past that counts); a Redis
 *   loading its data (`LOADING`) starts the wait afresh, and after a restart
 *   (its counters began again) the CPU is the new process's.
 *
 * ```ts
 * import { RedisGuard } from "./redis_guard.ts";
 * const guard = RedisGuard.start({ url: stack.endpoints.redis.url, history, restart });
 * // … the run …
 * const finding = await guard.stop(); // "the pipeline blocked Redis with a script for 4.2 s …"
 * ```
 * @module
 */

import {
  type RedisAddress,
  redisAddress,
  redisCommands,
  type RedisReply,
  type RedisValue,
  redisValues,
} from "../compose/redis_wire.ts";
import { sleep } from "../lib/wait.ts";
import type { History } from "../validate/history.ts";

/**
 * Redis answers BUSY once a script has run this long (`busy-reply-threshold`; Redis's default is
 * 5 s): under the harness's shortest Redis timeout (the health probe's 2 s).
 */
export const BUSY_REPLY_THRESHOLD_MS = 1000;

/** How the guard ended a script that blocked Redis. */
export type BusyEnd = "SCRIPT KILL" | "FUNCTION KILL" | "restart" | "by itself" | "not ended";

/** One time Redis answered BUSY, as recorded in the history (`redis-busy`). */
export interface BusyIncident {
  /** Epoch ms of the first BUSY answer. */
  busy_at_ms: number;
  /** From when Redis stopped answering (at the latest the threshold before BUSY) to answering again. */
  blocked_ms: number;
  ended_by: BusyEnd;
  /** Redis's own words (`BUSY Redis is busy running a script. …`). */
  answer: string;
  /** What SCRIPT KILL / FUNCTION KILL answered. */
  kill_answers: string[];
}

/** Redis logs every command that ran this long or longer (`slowlog-log-slower-than`, µs). */
export const SLOWLOG_MIN_US = 10_000;

/** One command this long blocks Redis: the pipeline's failure. */
export const SLOW_COMMAND_MS = 500;

/** Commands that add up to this much within SLOW_WINDOW_SPAN_MS block Redis: the failure. */
export const SLOW_WINDOW_MS = 3000;
export const SLOW_WINDOW_SPAN_MS = 10_000;

/** A probe whose PING waits this long (from the first unanswered one) is a stall. */
export const STALL_MS = 1000;

/**
 * A stall is Redis's own work when its main thread was on its CPU this share of the span. A Redis
 * that serves short commands answers PING within milliseconds even when saturated; one the host
 * froze or starved is off its CPU (a few ms in seconds). A flood of pipelined 7 ms scripts measured
 * 0.7 of the span on a busy host (load 7 on 2 cores) and 0.44 on a very busy one (load 9.5).
 */
export const STALL_BUSY_SHARE = 0.25;

/**
 * A stall is the pipeline's however little Redis was on its CPU when Redis took in this much
 * meanwhile (its append-only file's growth or its clients' input): an honest pipeline's keys are
 * small (1 MB/s at 10,000 alerts/s), and big values stall Redis in `write`/`fsync`, off its CPU.
 */
export const AOF_STALL_BYTES = 64 * 1024 * 1024;

/** After a fault on Redis is healed, Redis may take this long to answer again (excused). */
export const FAULT_GRACE_MS = 2000;

/** One stall of the harness's probes, as recorded (`redis-held`). */
export interface RedisStall {
  /** Epoch ms when Redis answered the probe again (open: when the guard stopped waiting). */
  at_ms: number;
  /** How long the harness waited for PING (from the first probe that went unanswered). */
  waited_ms: number;
  /** Between the two CPU readings around the stall (the last answered probe's and this one's). */
  span_ms: number;
  /** Redis's main thread on its CPU within the span (`used_cpu_user/sys_main_thread`, /proc). */
  cpu_ms: number;
  /** What Redis took in within the span (append-only file's growth, clients' input), if read. */
  bytes_in?: number;
  /** Redis had not answered when the guard stopped: the wait was still going on. */
  open?: boolean;
  /** Redis was restarted within the span: the CPU is the new process's. */
  restarted?: boolean;
  /** Not blamed: why (Redis was not on its CPU, a BUSY script, a fault on Redis). */
  excused?: string;
  /** Part of the wait not blamed (a fault on Redis until its heal's end and FAULT_GRACE_MS). */
  excused_ms?: number;
}

/** Entries read per probe (`SLOWLOG GET`) and kept by Redis (`slowlog-max-len`). */
const SLOWLOG_READ = 1024;

/** The most slow commands kept in memory (their sum and longest still count past it). */
const SLOW_KEPT = 1000;

/**
 * Commands of the harness's (the guard's own, a stack's admin): the pipeline's Redis user may run
 * none of them (`-@admin -@dangerous`, compose/redis_acl.ts), so a slow one is never its doing.
 */
export const ADMIN_COMMANDS = new Set([
  "SLOWLOG",
  "CONFIG",
  "DEBUG",
  "SHUTDOWN",
  "ACL",
  "MONITOR",
  "SAVE",
  "BGSAVE",
  "BGREWRITEAOF",
  "FLUSHALL",
  "FLUSHDB",
  "REPLICAOF",
  "SLAVEOF",
  "MODULE",
  "LATENCY",
]);

/** One command Redis logged as slow (its SLOWLOG entry), as recorded (`redis-slow`). */
export interface SlowCommand {
  /** Redis's own id of the entry (restarts at 0 with Redis). */
  id: number;
  /** Epoch ms when it ended (Redis logs it then; whole seconds). */
  ended_at_ms: number;
  duration_ms: number;
  /** Its name, upper case (`SUNIONSTORE`); at most 40 characters. */
  command: string;
  /** How many arguments it had (Redis keeps at most 32). */
  args: number;
  /** The client's address and name as Redis logged them (the client's own name: bounded). */
  client: string;
  /** Not blamed: why (`the harness's`, `a BUSY script`, `during fault …`). */
  excused?: string;
}

export interface RedisGuardOptions {
  /** The harness's Redis URL: a user that may run SCRIPT KILL and FUNCTION KILL (and CONFIG SET). */
  url: string;
  history: History;
  /**
   * Ends a script that SCRIPT KILL cannot: restarts the stack's Redis on its data. None: the
   * Redis is not the harness's (an external stack), nor is its configuration (no threshold set).
   */
  restart?: () => Promise<void>;
  /** The threshold set on every probe; null: leave the server's. Default: with `restart` only. */
  busyReplyThresholdMs?: number | null;
  /**
   * Read the slow commands (SLOWLOG: the entries past the first probe's newest, configured on
   * each). Default: with `restart` only (a Redis the harness owns; an external one may serve
   * others too).
   */
  slowlog?: boolean;
  /**
   * The host pid of the stack's Redis (undefined while it is not running): its main thread's CPU
   * is read from /proc, also while Redis does not answer (a wait still open when the guard
   * stops). None: `INFO cpu` only (an external stack's Redis is not this host's).
   */
  pid?: () => number | undefined;
  /** Between probes. Default 500. */
  intervalMs?: number;
  /** One probe's answer must come within this. Default 2500. */
  probeTimeoutMs?: number;
  /** After ending a script, Redis must answer PING within this. Default 60000. */
  recoverTimeoutMs?: number;
}

/** The finding of the blocks (none: nothing the pipeline is blamed for). */
export function busyFinding(incidents: readonly BusyIncident[]): string | undefined {
  const blamed = incidents.filter((i) => i.ended_by !== "by itself");
  if (blamed.length === 0) return undefined;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const ended = [...new Set(blamed.map((i) => i.ended_by))].filter((e) => e !== "not ended")
    .map((e) =>
      e === "restart"
        ? "a restart of Redis (the script had written: SCRIPT KILL could not end it)"
        : e
    );
  const how = [
    ...(ended.length ? [`ended by ${ended.join(", ")}`] : []),
    ...(blamed.some((i) => i.ended_by === "not ended") ? ["not ended by the harness"] : []),
  ].join("; ");
  const longest = Math.max(...blamed.map((i) => i.blocked_ms));
  const what = blamed.length === 1
    ? `a script for ${s(longest)}`
    : `scripts ${blamed.length} times, ${
      s(blamed.reduce((n, i) => n + i.blocked_ms, 0))
    } in all, the longest ${s(longest)}`;
  return `the pipeline blocked Redis with ${what} (Redis answered BUSY to the harness; ${how})`;
}

/** Bounded, printable text of the client's (a command name, its address and name). */
function clientText(text: string, max: number): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\x00-\x1f\x7f]/g, "?");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * The entries of a `SLOWLOG GET` reply (`[id, time_s, duration_us, [args…], addr, name]`), in
 * Redis's order (newest first). What is not of that shape is left out. Pure.
 */
export function parseSlowlog(reply: RedisValue | undefined): SlowCommand[] {
  if (!Array.isArray(reply)) return [];
  const out: SlowCommand[] = [];
  const num = (v: RedisValue | undefined) =>
    v !== undefined && !Array.isArray(v) && v.type === ":" ? Number(v.text) : NaN;
  const str = (v: RedisValue | undefined) =>
    v !== undefined && !Array.isArray(v) && (v.type === "$" || v.type === "+") ? v.text : "";
  for (const e of reply) {
    if (!Array.isArray(e) || e.length < 4) continue;
    const [id, time, us] = [num(e[0]), num(e[1]), num(e[2])];
    const args = Array.isArray(e[3]) ? e[3] : [];
    if (![id, time, us].every(Number.isFinite) || args.length === 0) continue;
    out.push({
      id,
      ended_at_ms: time * 1000,
      duration_ms: Math.round(us / 100) / 10,
      command: clientText(str(args[0]).toUpperCase(), 40),
      args: args.length,
      client: clientText(`${str(e[4])}${str(e[5]) ? ` (${str(e[5])})` : ""}`, 120),
    });
  }
  return out;
}

/** A span of epoch ms during which Redis was held by a fault of the scenario's (or a BUSY block). */
export interface Span {
  from_ms: number;
  to_ms: number;
  what: string;
}

/**
 * The spans during which a fault of the history held Redis (its target names redis): from its
 * injection's invocation to its heal's end (or `now`), from the history's events. Pure.
 */
export function redisFaultSpans(
  events: readonly { time: number; type: string; what: string; op?: number; value?: unknown }[],
  now: number,
): Span[] {
  const open = new Map<number, Span>();
  const spans: Span[] = [];
  for (const e of events) {
    const v = (e.value ?? {}) as { fault?: unknown; target?: unknown };
    if (typeof v.fault !== "number" || typeof v.target !== "string") continue;
    if (!/redis/.test(v.target)) continue;
    if (e.what.startsWith("fault:") && e.type === "invoke") {
      const span = { from_ms: e.time, to_ms: now, what: `${e.what.slice(6)} ${v.target}` };
      open.set(v.fault, span);
      spans.push(span);
    } else if (e.what.startsWith("heal:") && e.type !== "invoke") {
      const span = open.get(v.fault);
      if (span) span.to_ms = e.time;
      open.delete(v.fault);
    }
  }
  return spans;
}

/**
 * Marks each slow command that is not the pipeline's (`excused`): the harness's own commands, a
 * command a script called (Redis logs it too; no longer than the script, whose own entry counts),
 * a script whose run overlaps a BUSY block (already blamed as such), and anything that ran while a
 * fault held Redis. A command's run is `[ended - duration - 1 s, ended + 1 s]` (Redis logs whole
 * seconds). Pure.
 */
export function excuseSlow(
  commands: readonly SlowCommand[],
  o: { faults: readonly Span[]; busy: readonly BusyIncident[] },
): SlowCommand[] {
  const busy: Span[] = o.busy.map((b) => ({
    from_ms: b.busy_at_ms - b.blocked_ms - 1000,
    to_ms: b.busy_at_ms + b.blocked_ms + 1000,
    what: "BUSY",
  }));
  const overlaps = (c: SlowCommand, s: Span) =>
    c.ended_at_ms - c.duration_ms - 1000 <= s.to_ms && c.ended_at_ms + 1000 >= s.from_ms;
  const isScript = (c: SlowCommand) =>
    /^(EVAL|EVALSHA|EVAL_RO|EVALSHA_RO|FCALL|FCALL_RO)$/.test(c.command);
  const scripts = commands.filter(isScript);
  // A command a script called is logged too, just before the script: the script's time holds it.
  // Redis 7.0 logs it as the scripts' own client (`?:0`), later ones as the script's caller.
  const inScript = (c: SlowCommand) =>
    scripts.some((y) =>
      (y.client === c.client || /^\?:0( |$)/.test(c.client)) && y.id > c.id &&
      c.duration_ms <= y.duration_ms &&
      c.ended_at_ms <= y.ended_at_ms && c.ended_at_ms >= y.ended_at_ms - y.duration_ms - 1000
    );
  return commands.map((c) => {
    if (c.excused) return c;
    if (ADMIN_COMMANDS.has(c.command)) return { ...c, excused: "the harness's command" };
    const script = isScript(c);
    if (!script && inScript(c)) return { ...c, excused: "called by a script (counted as it)" };
    if (script && busy.some((s) => overlaps(c, s))) {
      return { ...c, excused: "a script counted as BUSY" };
    }
    const fault = o.faults.find((s) => overlaps(c, s));
    return fault ? { ...c, excused: `while the fault ${fault.what} held Redis` } : c;
  });
}

/**
 * The finding of the slow commands (none: nothing the pipeline is blamed for): one of
 * SLOW_COMMAND_MS or more, or those not excused adding up to SLOW_WINDOW_MS within any
 * SLOW_WINDOW_SPAN_MS. Pure.
 */
export function slowFinding(commands: readonly SlowCommand[]): string | undefined {
  const blamed = commands.filter((c) => !c.excused)
    .sort((a, b) => a.ended_at_ms - b.ended_at_ms || a.id - b.id);
  if (blamed.length === 0) return undefined;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const long = blamed.filter((c) => c.duration_ms >= SLOW_COMMAND_MS);
  // The busiest window: the most time in commands ending within SLOW_WINDOW_SPAN_MS.
  let busiest = { ms: 0, n: 0 };
  for (let i = 0, from = 0, sum = 0; i < blamed.length; i++) {
    sum += blamed[i].duration_ms;
    while (blamed[i].ended_at_ms - blamed[from].ended_at_ms >= SLOW_WINDOW_SPAN_MS) {
      sum -= blamed[from++].duration_ms;
    }
    if (sum > busiest.ms) busiest = { ms: sum, n: i - from + 1 };
  }
  if (long.length === 0 && busiest.ms < SLOW_WINDOW_MS) return undefined;
  const longest = blamed.reduce((a, b) => (b.duration_ms > a.duration_ms ? b : a));
  const names = [...new Set(blamed.map((c) => c.command))].slice(0, 5).join(", ");
  const what = long.length > 0
    ? `${long.length} command${long.length > 1 ? "s" : ""} of ${s(SLOW_COMMAND_MS)} or more`
    : `commands that took ${s(busiest.ms)} of ${s(SLOW_WINDOW_SPAN_MS)} (${busiest.n} of them)`;
  return `the pipeline blocked Redis with slow commands: ${what}, the longest ${longest.command} ` +
    `for ${s(longest.duration_ms)} from ${longest.client || "a client"} (Redis's SLOWLOG; ` +
    `${names})`;
}

/**
 * Redis's main thread's CPU time in ms from an `INFO cpu` answer (`used_cpu_user_main_thread` +
 * `used_cpu_sys_main_thread`, Redis 6.2 and later); undefined without them. Pure.
 */
export function mainThreadCpuMs(info: string | undefined): number | undefined {
  const s = (infoField(info, "used_cpu_user_main_thread") ?? NaN) +
    (infoField(info, "used_cpu_sys_main_thread") ?? NaN);
  return Number.isFinite(s) ? s * 1000 : undefined;
}

/** A number field (`name:value`) of an `INFO` answer; undefined when absent. */
function infoField(info: string | undefined, name: string): number | undefined {
  const m = info === undefined
    ? null
    : new RegExp(`^${name}:(\\d+(?:\\.\\d+)?)\\r?$`, "m").exec(info);
  return m ? Number(m[1]) : undefined;
}

/**
 * What Redis has taken in, in bytes, from an `INFO` answer with its `persistence` and `stats`
 * sections: its append-only file's size (`aof_current_size`) and its clients' input
 * (`total_net_input_bytes`), each undefined when absent. Pure.
 */
export function intakeBytes(info: string | undefined): { aof?: number; input?: number } {
  return {
    aof: infoField(info, "aof_current_size"),
    input: infoField(info, "total_net_input_bytes"),
  };
}

/**
 * A redis-server thread's CPU time in ms from its `/proc/<pid>/task/<tid>/stat` line (utime +
 * stime, in the kernel's USER_HZ of 100 a second); undefined when the line is not one of
 * redis-server's. Pure.
 */
export function procCpuMs(stat: string): number | undefined {
  const close = stat.lastIndexOf(")");
  // Redis's own (not a wrapper's, nor a pid reused by another program).
  if (close < 0 || !/^\d+ \(redis-server/.test(stat)) return undefined;
  // After "pid (comm) ": state is field 3, utime 14, stime 15.
  const f = stat.slice(close + 2).trim().split(/\s+/);
  const [utime, stime] = [Number(f[11]), Number(f[12])];
  return Number.isInteger(utime) && Number.isInteger(stime) ? (utime + stime) * 10 : undefined;
}

/**
 * Redis's main thread's CPU time in ms as /proc tells it (its main thread's id is its pid), read
 * without Redis answering; undefined when it cannot be read (no such process).
 */
export function readProcCpuMs(pid: number): number | undefined {
  try {
    return procCpuMs(Deno.readTextFileSync(`/proc/${pid}/task/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/**
 * Marks each stall that is not the pipeline's (`excused`): one during which Redis's main thread
 * was on its CPU less than STALL_BUSY_SHARE of the span (the host starved it, or it was frozen)
 * unless Redis took in AOF_STALL_BYTES or more meanwhile, one that overlaps a BUSY block (counted
 * as such); the part of a wait before a fault on Redis was healed, and FAULT_GRACE_MS after
 * (`excused_ms`; all of it when the wait ended within that). Pure.
 */
export function excuseStalls(
  stalls: readonly RedisStall[],
  o: { faults: readonly Span[]; busy: readonly BusyIncident[] },
): RedisStall[] {
  const overlaps = (st: RedisStall, s: Span) =>
    st.at_ms - st.span_ms <= s.to_ms && st.at_ms >= s.from_ms;
  return stalls.map((st) => {
    if (st.excused) return st;
    const wrote = (st.bytes_in ?? 0) >= AOF_STALL_BYTES;
    if (!(st.cpu_ms >= STALL_BUSY_SHARE * st.span_ms) && !wrote) {
      return {
        ...st,
        excused: "Redis was not on its CPU and took in little (the host's doing, not a client's)",
      };
    }
    const busy = o.busy.find((b) =>
      overlaps(st, { from_ms: b.busy_at_ms - b.blocked_ms, to_ms: b.busy_at_ms, what: "" })
    );
    if (busy) return { ...st, excused: "a script counted as BUSY" };
    // A fault on Redis excuses the wait until its heal's end and a grace, not what came after.
    const waitFrom = st.at_ms - st.waited_ms;
    const during = o.faults.filter((f) =>
      f.from_ms <= st.at_ms && f.to_ms + FAULT_GRACE_MS > waitFrom
    );
    if (during.length === 0) return st;
    const until = Math.max(...during.map((f) => f.to_ms + FAULT_GRACE_MS));
    const what = during.map((f) => f.what).join(", ");
    if (until >= st.at_ms) return { ...st, excused: `while the fault ${what} held Redis` };
    return { ...st, excused_ms: until - waitFrom };
  });
}

/**
 * The finding of the stalls (none: nothing the pipeline is blamed for): those not excused, each
 * counted for as long as the harness waited, adding up to SLOW_WINDOW_MS within any
 * SLOW_WINDOW_SPAN_MS. Pure.
 */
export function heldFinding(stalls: readonly RedisStall[]): string | undefined {
  const blamed = stalls.filter((st) => !st.excused).sort((a, b) => a.at_ms - b.at_ms);
  const held = (st: RedisStall) => st.waited_ms - (st.excused_ms ?? 0);
  let busiest = { ms: 0, n: 0 };
  for (let i = 0, from = 0, sum = 0; i < blamed.length; i++) {
    sum += held(blamed[i]);
    while (blamed[i].at_ms - blamed[from].at_ms >= SLOW_WINDOW_SPAN_MS) sum -= held(blamed[from++]);
    if (sum > busiest.ms) busiest = { ms: sum, n: i - from + 1 };
  }
  if (busiest.ms < SLOW_WINDOW_MS) return undefined;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const longest = blamed.reduce((a, b) => (held(b) > held(a) ? b : a));
  const mb = (n: number) => `${Math.round(n / (1024 * 1024))} MB`;
  const cause = (longest.bytes_in ?? 0) >= AOF_STALL_BYTES
    ? `Redis took in ${mb(longest.bytes_in!)} meanwhile: big values, written and fsynced to ` +
      `its append-only file`
    : `commands too short for the SLOWLOG, run back to back`;
  return `the pipeline held Redis busy: the harness's PING waited ${s(busiest.ms)} of ${
    s(SLOW_WINDOW_SPAN_MS)
  } (${busiest.n === 1 ? "once" : `${busiest.n} times`}; the longest ${s(held(longest))}${
    longest.open ? ", still unanswered when the run ended" : ""
  }, while Redis's main thread was on ` +
    `its CPU ${s(longest.cpu_ms)} of ${s(longest.span_ms)}: ${cause})`;
}

/** Whether a reply is Redis's "busy running a script" (not BUSYKEY, BUSYGROUP). */
export function isBusy(reply: RedisReply | undefined): boolean {
  return reply?.type === "-" && /^BUSY\s/.test(reply.text);
}

/** A reading of Redis's main-thread CPU (and intake, from `INFO`) at an instant. */
interface Reading {
  at_ms: number;
  cpu_ms: number;
  /** `proc:<pid>` (another pid: another process) or `info` (Redis's own counters). */
  source: string;
  aof?: number;
  input?: number;
}

/** Watches the run's Redis for scripts that block it (see the module's doc). */
export class RedisGuard {
  readonly #o:
    & Required<
      Omit<RedisGuardOptions, "restart" | "busyReplyThresholdMs" | "slowlog" | "pid">
    >
    & {
      slowlog: boolean;
      restart?: () => Promise<void>;
      pid?: () => number | undefined;
      threshold: number | null;
    };
  readonly #address: RedisAddress;
  readonly #incidents: BusyIncident[] = [];
  #stopped = false;
  #loop: Promise<void> = Promise.resolve();
  #wake?: AbortController;
  /** Epoch ms of the first probe of the current run of unanswered ones. */
  #silentSince?: number;
  /** The threshold could not be set (NOPERM…): not asked again. */
  #thresholdRefused = false;
  /** The slow commands read so far (at most SLOW_KEPT), oldest first. */
  readonly #slow: SlowCommand[] = [];
  /**
   * The id of the newest SLOWLOG entry read (ids only grow; Redis numbers them from 0 again when
   * it restarts). Undefined until the first read, which only takes it: what came before the guard
   * does not count. The log is never reset: a read that gets no answer in time loses nothing.
   */
  #lastSlowId?: number;
  /** The SLOWLOG could not be configured (NOPERM…): not asked again. */
  #slowlogRefused = false;
  /** The stalls seen so far (at most SLOW_KEPT), oldest first. */
  readonly #stalls: RedisStall[] = [];
  /** The last answered probe's reading of Redis's main-thread CPU and intake (see `#reading`). */
  #cpuMark?: Reading;
  /** Epoch ms of the first probe whose PING has not been answered (in STALL_MS) since. */
  #waitingSince?: number;

  private constructor(o: RedisGuardOptions) {
    this.#address = redisAddress(o.url);
    this.#o = {
      url: o.url,
      history: o.history,
      restart: o.restart,
      pid: o.pid,
      threshold: o.busyReplyThresholdMs === undefined
        ? (o.restart ? BUSY_REPLY_THRESHOLD_MS : null)
        : o.busyReplyThresholdMs,
      intervalMs: o.intervalMs ?? 500,
      probeTimeoutMs: o.probeTimeoutMs ?? 2500,
      recoverTimeoutMs: o.recoverTimeoutMs ?? 60_000,
      slowlog: o.slowlog ?? o.restart !== undefined,
    };
  }

  /** A guard that probes until `stop()`. */
  static start(o: RedisGuardOptions): RedisGuard {
    const guard = new RedisGuard(o);
    guard.#loop = guard.#run();
    return guard;
  }

  /** A guard that probes only when `check()` is called (tests). */
  static manual(o: RedisGuardOptions): RedisGuard {
    return new RedisGuard(o);
  }

  /** The blocks seen so far. */
  incidents(): readonly BusyIncident[] {
    return this.#incidents;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.check().catch((error) =>
        this.#o.history.record("info", "redis-guard", `probe failed: ${error}`)
      );
      if (this.#stopped) break;
      this.#wake = new AbortController();
      await sleep(this.#o.intervalMs, this.#wake.signal).catch(() => {});
    }
  }

  /**
   * One probe: sets the threshold (when the guard may), PINGs, and on BUSY ends the script and
   * records it. Returns the incident, if there was one.
   */
  async check(): Promise<BusyIncident | undefined> {
    const started = Date.now();
    const setThreshold = this.#o.threshold !== null && !this.#thresholdRefused;
    const commands = [
      ...(setThreshold
        ? [["CONFIG", "SET", "busy-reply-threshold", String(this.#o.threshold)]]
        : []),
      ["PING"],
      // Redis's own CPU time and intake: a stall with Redis on its CPU, or taking in big values,
      // is a client's doing (`#stalled`).
      ...(this.#o.slowlog ? [["INFO", "cpu", "stats", "persistence"]] : []),
    ];
    const ping = setThreshold ? 1 : 0;
    const replies = await redisCommands(this.#address, commands, {
      timeoutMs: this.#o.probeTimeoutMs,
    });
    const busy = replies.find(isBusy);
    if (!busy) {
      if (
        setThreshold && replies[0]?.type === "-" && !/^(LOADING|MASTERDOWN)/.test(replies[0].text)
      ) {
        this.#thresholdRefused = true;
        this.#o.history.record(
          "info",
          "redis-guard",
          `busy-reply-threshold could not be set: ${replies[0].text}`,
        );
      }
      // Silent: the probe waited its whole timeout (refused, reset: Redis is down, not blocked).
      const silent = replies.length < commands.length &&
        Date.now() - started >= this.#o.probeTimeoutMs - 50;
      this.#silentSince = silent ? (this.#silentSince ?? started) : undefined;
      const pong = replies[ping]?.text === "PONG";
      const loading = replies[ping]?.type === "-" && /^LOADING/.test(replies[ping].text);
      if (this.#o.slowlog) this.#stalled(started, pong, loading, replies[ping + 1]);
      if (pong) await this.#readSlow();
      return undefined;
    }
    // A script's time is BUSY's: the stalls start afresh.
    this.#cpuMark = this.#waitingSince = undefined;
    const busyAt = Date.now();
    const threshold = this.#o.threshold ?? 5000;
    const since = Math.min(this.#silentSince ?? started, busyAt - threshold);
    this.#silentSince = undefined;
    const { endedBy, answers } = await this.#end();
    const incident: BusyIncident = {
      busy_at_ms: busyAt,
      blocked_ms: Date.now() - since,
      ended_by: endedBy,
      answer: busy.text,
      kill_answers: answers,
    };
    this.#incidents.push(incident);
    this.#o.history.record(endedBy === "by itself" ? "info" : "fail", "redis-busy", incident);
    return incident;
  }

  /**
   * Redis's main-thread CPU now: by /proc when the stack's pid is known (the same source every
   * time, Redis answering or not), else by the probe's `INFO`; its intake by the `INFO`.
   */
  #reading(now: number, info: string | undefined): Reading | undefined {
    const pid = this.#o.pid?.();
    const proc = pid === undefined ? undefined : readProcCpuMs(pid);
    const cpu = proc ?? mainThreadCpuMs(info);
    if (cpu === undefined) return undefined;
    return {
      at_ms: now,
      cpu_ms: cpu,
      source: proc !== undefined ? `proc:${pid}` : "info",
      ...intakeBytes(info),
    };
  }

  /**
   * After a probe that started at `started`: a PING unanswered starts (or goes on with) a wait; one
   * answered after STALL_MS or more of waiting is a stall, judged by Redis's main-thread CPU and
   * intake over the span since the last answered probe's reading (`excuseStalls`) and recorded. A
   * Redis loading its data starts afresh (its first reading is the mark).
   */
  #stalled(
    started: number,
    pong: boolean,
    loading: boolean,
    info: RedisReply | undefined,
  ): void {
    const now = Date.now();
    const text = info?.type === "$" ? info.text : undefined;
    if (loading) {
      this.#waitingSince = undefined;
      this.#cpuMark = this.#reading(now, text);
      return;
    }
    if (!pong) {
      this.#waitingSince ??= started;
      return;
    }
    const waitedFrom = this.#waitingSince ?? started;
    this.#waitingSince = undefined;
    const reading = this.#reading(now, text);
    const mark = this.#cpuMark;
    this.#cpuMark = reading;
    if (now - waitedFrom >= STALL_MS) this.#judge(waitedFrom, mark, reading, false);
  }

  /**
   * Records the stall of a wait from `waitedFrom` to `now` (the reading's), judged over the span
   * between the two readings (none on either side: nothing to judge). A reading of another
   * process (another pid, or CPU below the mark's: Redis was restarted) counts the new process's
   * CPU from its start, with no intake.
   */
  #judge(waitedFrom: number, mark: Reading | undefined, now: Reading | undefined, open: boolean) {
    if (!mark || !now) return;
    const restarted = mark.source !== now.source || now.cpu_ms < mark.cpu_ms;
    if (restarted && (mark.source === "info") !== (now.source === "info")) return; // mixed sources
    const grew = (a?: number, b?: number) =>
      a !== undefined && b !== undefined && b >= a ? b - a : undefined;
    const aof = restarted ? undefined : grew(mark.aof, now.aof);
    const input = restarted ? undefined : grew(mark.input, now.input);
    const bytes = aof === undefined && input === undefined
      ? undefined
      : Math.max(aof ?? 0, input ?? 0);
    const [stall] = excuseStalls([{
      at_ms: now.at_ms,
      waited_ms: now.at_ms - waitedFrom,
      span_ms: now.at_ms - mark.at_ms,
      cpu_ms: Math.round(restarted ? now.cpu_ms : now.cpu_ms - mark.cpu_ms),
      ...(bytes !== undefined ? { bytes_in: bytes } : {}),
      ...(open ? { open } : {}),
      ...(restarted ? { restarted } : {}),
    }], { faults: redisFaultSpans(this.#o.history.events, now.at_ms), busy: this.#incidents });
    if (this.#stalls.length < SLOW_KEPT) this.#stalls.push(stall);
    const alone = !stall.excused && stall.waited_ms - (stall.excused_ms ?? 0) >= SLOW_WINDOW_MS;
    this.#o.history.record(alone ? "fail" : "info", "redis-held", stall);
  }

  /**
   * A wait still open (Redis has not answered since `#waitingSince`) is judged now, by /proc:
   * the run's verdict is taken, and a Redis held through it is a stall like one that ended.
   */
  #judgeOpenWait(): void {
    const from = this.#waitingSince;
    if (!this.#o.slowlog || from === undefined) return;
    const now = Date.now();
    if (now - from < STALL_MS) return;
    const pid = this.#o.pid?.();
    const cpu = pid === undefined ? undefined : readProcCpuMs(pid);
    const reading: Reading | undefined = cpu === undefined
      ? undefined
      : { at_ms: now, cpu_ms: cpu, source: `proc:${pid}` };
    this.#waitingSince = undefined;
    this.#judge(from, this.#cpuMark, reading, true);
  }

  /** The stalls seen so far, each excused or not (see `excuseStalls`). */
  stalls(): RedisStall[] {
    return excuseStalls(this.#stalls, {
      faults: redisFaultSpans(this.#o.history.events, Date.now()),
      busy: this.#incidents,
    });
  }

  /** The slow commands read so far, each excused or not (see `excuseSlow`). */
  slowCommands(): SlowCommand[] {
    return excuseSlow(this.#slow, {
      faults: redisFaultSpans(this.#o.history.events, Date.now()),
      busy: this.#incidents,
    });
  }

  /**
   * Reads the SLOWLOG's entries newer than the last read (never emptied: a read that times out
   * behind a blocked Redis loses nothing), after setting what it logs (a restarted Redis forgets
   * it). The first read only takes the newest id. Entries that Redis dropped between two reads
   * (more than SLOWLOG_READ slow commands, each of SLOWLOG_MIN_US or more) count as one entry of
   * that least length each: evidence the pipeline removed is held against it.
   */
  async #readSlow(): Promise<void> {
    if (!this.#o.slowlog || this.#slowlogRefused) return;
    const values = await redisValues(this.#address, [
      ["CONFIG", "SET", "slowlog-log-slower-than", String(SLOWLOG_MIN_US)],
      ["CONFIG", "SET", "slowlog-max-len", String(SLOWLOG_READ)],
      ["SLOWLOG", "GET", String(SLOWLOG_READ)],
    ], { timeoutMs: this.#o.probeTimeoutMs });
    const config = values[0];
    if (
      config !== undefined && !Array.isArray(config) && config.type === "-" &&
      !/^(LOADING|MASTERDOWN|BUSY)/.test(config.text)
    ) {
      this.#slowlogRefused = true;
      this.#o.history.record("info", "redis-guard", `the SLOWLOG cannot be read: ${config.text}`);
      return;
    }
    const got = values[2];
    if (!Array.isArray(got)) return; // no answer in time: the next probe reads it
    const all = parseSlowlog(got).reverse(); // oldest first
    const newest = all.at(-1)?.id ?? -1;
    if (this.#lastSlowId === undefined) {
      this.#lastSlowId = newest; // what ran before the guard started is not the run's
      return;
    }
    // Ids below the last read's: Redis restarted (numbering again from 0), all of it is new.
    const after = newest < this.#lastSlowId ? -1 : this.#lastSlowId;
    const read = all.filter((c) => c.id > after);
    this.#lastSlowId = Math.max(newest, after);
    const lost = read.length > 0 ? read[0].id - after - 1 : 0;
    if (lost > 0) {
      read.unshift({
        id: read[0].id - 1,
        ended_at_ms: read[0].ended_at_ms,
        duration_ms: lost * SLOWLOG_MIN_US / 1000,
        command: `(${lost} SLOWLOG entries dropped unread)`,
        args: 0,
        client: "",
      });
    }
    const judged = excuseSlow(read, {
      faults: redisFaultSpans(this.#o.history.events, Date.now()),
      busy: this.#incidents,
    });
    for (const c of judged) {
      if (this.#slow.length < SLOW_KEPT) this.#slow.push(c);
      const blamed = !c.excused && c.duration_ms >= SLOW_COMMAND_MS;
      this.#o.history.record(blamed ? "fail" : "info", "redis-slow", c);
    }
  }

  /** Ends the running script: SCRIPT KILL, FUNCTION KILL, else a restart; then Redis answers. */
  async #end(): Promise<{ endedBy: BusyEnd; answers: string[] }> {
    const answers: string[] = [];
    let endedBy: BusyEnd = "not ended";
    let unkillable = false;
    for (const kind of ["SCRIPT", "FUNCTION"] as const) {
      const [reply] = await redisCommands(this.#address, [[kind, "KILL"]], {
        timeoutMs: this.#o.probeTimeoutMs,
      });
      answers.push(reply ? `${reply.type}${reply.text}` : "(no answer)");
      if (reply?.type === "+") {
        endedBy = `${kind} KILL`;
        break;
      }
      if (reply?.type === "-" && reply.text.startsWith("NOTBUSY")) {
        endedBy = "by itself";
        break;
      }
      if (reply?.type === "-" && reply.text.startsWith("UNKILLABLE")) {
        unkillable = true;
        break;
      }
      // BUSY: the other kind (a function to SCRIPT KILL, an eval to FUNCTION KILL) is running.
    }
    if (unkillable && this.#o.restart) {
      try {
        await this.#o.restart();
        endedBy = "restart";
      } catch (error) {
        answers.push(`restart failed: ${(error as Error).message}`);
      }
    }
    if (endedBy !== "not ended") await this.#answersAgain();
    return { endedBy, answers };
  }

  /** Waits (bounded) until Redis answers PING again; one that does not is recorded. */
  async #answersAgain(): Promise<void> {
    const deadline = Date.now() + this.#o.recoverTimeoutMs;
    while (Date.now() < deadline) {
      const [reply] = await redisCommands(this.#address, [["PING"]], {
        timeoutMs: this.#o.probeTimeoutMs,
      });
      if (reply?.type === "+") return;
      await sleep(200);
    }
    this.#o.history.record(
      "fail",
      "redis-guard",
      `Redis did not answer PING within ${this.#o.recoverTimeoutMs} ms after the script was ended`,
    );
  }

  /**
   * Stops probing after one last probe (a script that started under the last interval is seen
   * too, and the SLOWLOG read once more); the findings, if the pipeline blocked Redis.
   */
  async stop(): Promise<string | undefined> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#wake?.abort();
      await this.#loop;
      await this.check().catch(() => undefined);
      this.#judgeOpenWait();
    }
    const findings = [
      busyFinding(this.#incidents),
      slowFinding(this.slowCommands()),
      heldFinding(this.stalls()),
    ]
      .filter((f) => f !== undefined);
    return findings.length ? findings.join("; ") : undefined;
  }
}
