/**
 * A run that stops itself: every second while the workload runs, the abort
 * probes (`abort: true`) are checked on the samples so far, and the run folder
 * is looked at for an abort asked by hand (`deno task scenario --abort <run>`
 * writes `abort.json` there), and SIGUSR1 to the run's process asks the same
 * (`kill -USR1 <pid>`). The first that trips is recorded in the history
 * (`abort`, which the verdict reads: the run fails with `aborted: <why>`),
 * and `onAbort` stops the workload and heals every fault at once.
 *
 * ```ts
 * const watch = new AbortWatch({ probes, eps, runDir, history, samples, phases, onAbort });
 * watch.start();
 * // ... the workload ...
 * watch.stop();
 * ```
 * @module
 */

import { join } from "node:path";
import type { History } from "../validate/history.ts";
import { abortingProbe, type LivePhases, type Probe } from "../validate/probes.ts";
import type { Sample } from "../validate/samples.ts";

/** The file `scenario --abort` writes into a running run's folder. */
export const ABORT_FILE = "abort.json";

/** The signal that aborts a running run by hand, like `scenario --abort`. */
export const ABORT_SIGNAL = "SIGUSR1";

export interface AbortWatchOptions {
  probes: readonly Probe[];
  /** The workload's target rate (for `sink_lag_s`). */
  eps: number;
  runDir: string;
  history: History;
  samples(): readonly Sample[];
  phases(): LivePhases;
  /** Stops the workload and heals the faults; called once. */
  onAbort(): void;
  /** How often to look; default 1000 ms. */
  intervalMs?: number;
}

export class AbortWatch {
  readonly #o: AbortWatchOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #tripped = false;
  #signalled = false;
  readonly #onSignal = () => {
    this.#signalled = true;
    this.check();
  };

  constructor(options: AbortWatchOptions) {
    this.#o = options;
  }

  /** Whether the run was aborted. */
  get tripped(): boolean {
    return this.#tripped;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), this.#o.intervalMs ?? 1000);
    Deno.addSignalListener(ABORT_SIGNAL, this.#onSignal);
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    Deno.removeSignalListener(ABORT_SIGNAL, this.#onSignal);
  }

  /** One look: trips on an abort asked by hand, else on the first abort probe that fails. */
  check(): void {
    if (this.#tripped) return;
    const o = this.#o;
    if (this.#signalled) {
      this.#trip({ by: "hand", detail: `by hand (${ABORT_SIGNAL} to pid ${Deno.pid})` });
      return;
    }
    const byHand = readAbortFile(join(o.runDir, ABORT_FILE));
    if (byHand) {
      this.#trip({ by: "hand", detail: `by hand (${byHand})` });
      return;
    }
    const tripped = abortingProbe(o.probes, o.samples(), o.phases(), o.eps);
    if (tripped) {
      const started = o.phases().workloadStart;
      const at = ((Date.now() - started) / 1000).toFixed(0);
      this.#trip({
        by: "probe",
        probe: tripped.name,
        detail:
          `probe "${tripped.name}" measured ${tripped.measured}, expected ${tripped.expected} ` +
          `(${tripped.phase}, ${at} s into the workload)`,
      });
    }
  }

  #trip(value: { by: "probe" | "hand"; probe?: string; detail: string }): void {
    this.#tripped = true;
    this.stop();
    this.#o.history.record("fail", "abort", { ...value, at: Date.now() });
    this.#o.onAbort();
  }
}

/** Who asked, from an abort file; undefined without one. */
function readAbortFile(path: string): string | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  try {
    const asked = JSON.parse(text) as { by?: unknown; pid?: unknown };
    return typeof asked.by === "string" ? asked.by : `pid ${asked.pid ?? "?"}`;
  } catch {
    return "an abort file";
  }
}

/** Asks the run in `runDir` to stop (what `scenario --abort` does). */
export async function requestAbort(runDir: string, by: string): Promise<void> {
  await Deno.writeTextFile(
    join(runDir, ABORT_FILE),
    JSON.stringify({ by, pid: Deno.pid, at: Date.now() }) + "\n",
  );
}
