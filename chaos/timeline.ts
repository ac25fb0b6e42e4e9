/**
 * The fault timeline of a run (Jepsen's nemesis): injects each planned fault
 * on time, heals it on time, and heals whatever is still in force on the one
 * path used both at the end and on abort (`healAll`, newest first). Every
 * injection and heal is an invocation and a completion in the history, which
 * is the only record of what the faults did (`faultRecords`).
 *
 * ```ts
 * const timeline = new FaultTimeline({ history, ctx, resolve });
 * await timeline.run(plan(scenario, seed), t0, signal);
 * await timeline.healAll();
 * ```
 * @module
 */

import { Gauge, Registry } from "prom-client";
import { sleep, waitFor } from "../lib/wait.ts";
import { NotRunningError } from "../compose/process_node.ts";
import { DodgedFaultError } from "./faults/dodged.ts";
import { faultRecords, type History } from "../validate/history.ts";
import type { FaultRecord } from "../validate/results.ts";
import { FAULTS, type FaultTable } from "./faults/mod.ts";
import type { FaultContext, Injected, Observed } from "./faults/types.ts";
import type { PlannedFault, Step } from "./planner.ts";

/** How long a fault's target may stay unresolvable (no leader, no quorum answer) before the fault is given up. */
const RESOLVE_TIMEOUT_MS = 20_000;

export interface TimelineOptions {
  history: History;
  ctx: FaultContext;
  /** The run's faults, in plan order (recorded in the history as the plan). */
  faults: readonly PlannedFault[];
  /** Resolves a target string to node names (and what the resolution observed). */
  resolve(target: string): Promise<{ nodes: string[]; observed: Observed }>;
  /** The faults by kind; default the harness's table. */
  table?: FaultTable;
  /** Told when a fault could not be injected (the run goes on). */
  warn?(message: string): void;
}

export class FaultTimeline {
  /** `chaos_fault_active{kind,target}`: 1 while a fault is in force (Grafana draws them). */
  readonly registry = new Registry();
  /** Faults in force, as "kind target". */
  readonly active = new Set<string>();
  /** The next step, for the status line. */
  next = "";
  /** Every step has run (or the run stopped the timeline). */
  finished = false;
  readonly #o: TimelineOptions;
  readonly #gauge: Gauge;
  readonly #injected = new Map<number, Injected>();

  constructor(options: TimelineOptions) {
    this.#o = options;
    this.#gauge = new Gauge({
      name: "chaos_fault_active",
      help: "1 while the fault is in force",
      labelNames: ["kind", "target"],
      registers: [this.registry],
    });
    options.history.record(
      "info",
      "plan",
      options.faults.map((f) => ({ kind: f.kind, target: f.target, source: f.source })),
    );
  }

  /** What each fault did so far, from the history. */
  records(): FaultRecord[] {
    return faultRecords(this.#o.history.events) ?? [];
  }

  /**
   * Runs the steps on time from `t0` (a `performance.now()`). A slow step (a
   * fault that waits for its effect) delays only the later steps of its own
   * fault: a heal always runs after its inject.
   */
  async run(steps: readonly Step[], t0: number, signal?: AbortSignal): Promise<void> {
    const inflight = new Map<number, Promise<void>>();
    for (const [n, step] of steps.entries()) {
      this.next = `${step.action} ${step.kind} ${step.target} at ${
        (step.at_ms / 1000).toFixed(0)
      }s`;
      const wait = step.at_ms - (performance.now() - t0);
      if (wait > 0) await sleep(wait, signal);
      const previous = inflight.get(step.fault) ?? Promise.resolve();
      inflight.set(
        step.fault,
        previous.then(() =>
          step.action === "inject" ? this.#inject(step, n, signal) : this.#heal(step.fault)
        ),
      );
    }
    this.next = "";
    await Promise.all(inflight.values());
    this.finished = true;
  }

  /** Heals every fault still in force, newest first; a failed heal is recorded and the rest go on. */
  async healAll(): Promise<void> {
    for (const i of [...this.#injected.keys()].reverse()) await this.#heal(i);
  }

  async #inject(step: Step, n: number, signal?: AbortSignal): Promise<void> {
    const { history, ctx } = this.#o;
    const op = history.invoke(`fault:${step.kind}`, {
      fault: step.fault,
      target: step.target,
      step: n,
    });
    try {
      // Resolving only reads (metadata, the quorum): retried through a moment where the
      // cluster cannot answer (an election, a slow broker) instead of losing the fault.
      const resolved = await waitFor(() => this.#o.resolve(step.target), {
        what: `the target ${step.target}`,
        timeoutMs: RESOLVE_TIMEOUT_MS,
        intervalMs: 1000,
        signal,
      });
      const table: FaultTable = this.#o.table ?? FAULTS;
      const fault = table[step.kind];
      const injected = await fault.inject(ctx, resolved.nodes, step.params);
      this.#injected.set(step.fault, injected);
      if (!fault.oneShot) this.#show(step.kind, step.target, true);
      history.complete(op, "ok", {
        target: step.target,
        nodes: resolved.nodes,
        observed: { ...resolved.observed, ...injected.observed },
      });
    } catch (error) {
      const message = String((error as Error).message ?? error);
      this.#o.warn?.(`fault ${step.kind} ${step.target} could not be injected: ${message}`);
      // A target found dead when its fault was due (typed: chaos/outcome.ts tells it apart).
      const notRunning = error instanceof NotRunningError ? { not_running: true } : {};
      // A graded component that dodged the fault (typed: faults/dodged.ts; outcome.ts blames it).
      const dodged = error instanceof DodgedFaultError
        ? { dodged: true, evidence: error.evidence }
        : {};
      history.complete(op, "fail", {
        target: step.target,
        error: message,
        ...notRunning,
        ...dodged,
      });
    }
  }

  async #heal(i: number): Promise<void> {
    const injected = this.#injected.get(i);
    if (!injected) return;
    this.#injected.delete(i);
    const { kind, target } = this.#o.faults[i];
    const op = this.#o.history.invoke(`heal:${kind}`, { fault: i, target });
    try {
      const observed = await injected.heal();
      this.#o.history.complete(op, "ok", { target, observed });
    } catch (error) {
      this.#o.history.complete(op, "fail", { target, error: String(error) });
    }
    this.#show(kind, target, false);
  }

  #show(kind: string, target: string, on: boolean): void {
    if (on) this.active.add(`${kind} ${target}`);
    else this.active.delete(`${kind} ${target}`);
    this.#gauge.set({ kind, target }, on ? 1 : 0);
  }
}
