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
 *
 * Not caught: scripts each shorter than the threshold, run back to back (the
 * harness's probes then wait at most a threshold per queued script).
 *
 * ```ts
 * import { RedisGuard } from "./redis_guard.ts";
 * const guard = RedisGuard.start({ url: stack.endpoints.redis.url, history, restart });
 * // … the run …
 * const finding = await guard.stop(); // "the pipeline blocked Redis with a script for 4.2 s …"
 * ```
 * @module
 */

import { type RedisAddress, redisAddress, type RedisReply } from "../compose/redis_wire.ts";
import { redisCommands } from "../compose/redis_wire.ts";
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

/** Whether a reply is Redis's "busy running a script" (not BUSYKEY, BUSYGROUP). */
export function isBusy(reply: RedisReply | undefined): boolean {
  return reply?.type === "-" && /^BUSY\s/.test(reply.text);
}

/** Watches the run's Redis for scripts that block it (see the module's doc). */
export class RedisGuard {
  readonly #o: Required<Omit<RedisGuardOptions, "restart" | "busyReplyThresholdMs">> & {
    restart?: () => Promise<void>;
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

  private constructor(o: RedisGuardOptions) {
    this.#address = redisAddress(o.url);
    this.#o = {
      url: o.url,
      history: o.history,
      restart: o.restart,
      threshold: o.busyReplyThresholdMs === undefined
        ? (o.restart ? BUSY_REPLY_THRESHOLD_MS : null)
        : o.busyReplyThresholdMs,
      intervalMs: o.intervalMs ?? 500,
      probeTimeoutMs: o.probeTimeoutMs ?? 2500,
      recoverTimeoutMs: o.recoverTimeoutMs ?? 60_000,
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
    ];
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
      return undefined;
    }
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
   * too); the finding, if the pipeline blocked Redis.
   */
  async stop(): Promise<string | undefined> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#wake?.abort();
      await this.#loop;
      await this.check().catch(() => undefined);
    }
    return busyFinding(this.#incidents);
  }
}
