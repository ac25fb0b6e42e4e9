/**
 * The run's history, Jepsen style: every operation and fault as one JSON line
 * `{time, type: invoke|ok|fail|info, what, op?, value?}` in `history.jsonl`.
 * An operation's completion (`ok` or `fail`) carries the `op` of its
 * invocation, so the two pair up even when operations overlap.
 *
 * The history is the run's one record of its faults: `faultRecords` derives
 * what each fault did (when it was injected and healed, on which nodes, what
 * was observed) from it, during the run and in `validate --run` alike.
 *
 * ```ts
 * const h = new History("/tmp/run/history.jsonl");
 * const op = h.invoke("fault:kill", { fault: 0, target: "broker:2" });
 * h.complete(op, "ok", { nodes: ["kafka-2"] });
 * ```
 * @module
 */

import { z } from "zod";
import type { AbortRecord, FaultRecord } from "./results.ts";
import { isEpochMs, parseJsonLines, UnreadableEvidenceError } from "./unreadable.ts";

export type { AbortRecord };

export type OpType = "invoke" | "ok" | "fail" | "info";

export interface HistoryEvent {
  time: number;
  type: OpType;
  what: string;
  /** Pairs a completion with its invocation. */
  op?: number;
  value?: unknown;
}

/** The run's planned faults, recorded once before the workload (`what: "plan"`). */
export interface PlannedFaultEntry {
  kind: string;
  target: string;
  source: FaultRecord["source"];
}

export class History {
  readonly path: string;
  readonly events: HistoryEvent[] = [];
  #ops = 0;
  /** What each invocation was, by op. */
  #what = new Map<number, string>();
  #open = new Set<number>();

  constructor(path: string) {
    this.path = path;
    Deno.writeTextFileSync(path, "");
  }

  record(type: OpType, what: string, value?: unknown, op?: number): HistoryEvent {
    const event: HistoryEvent = {
      time: Date.now(),
      type,
      what,
      ...(op === undefined ? {} : { op }),
      ...(value === undefined ? {} : { value }),
    };
    this.events.push(event);
    Deno.writeTextFileSync(this.path, JSON.stringify(event) + "\n", { append: true });
    return event;
  }

  /** Records an invocation; returns the `op` its completion names. */
  invoke(what: string, value?: unknown): number {
    const op = ++this.#ops;
    this.#what.set(op, what);
    this.#open.add(op);
    this.record("invoke", what, value, op);
    return op;
  }

  /**
   * Completes every operation still open as indeterminate (`info`, Jepsen's
   * word for "may or may not have happened"): the run stopped before they ended.
   */
  closeOpen(why: string): void {
    for (const op of [...this.#open]) this.complete(op, "info", { indeterminate: why });
  }

  /** Records the completion of invocation `op`. */
  complete(op: number, type: "ok" | "fail" | "info", value?: unknown): HistoryEvent {
    const what = this.#what.get(op);
    if (what === undefined) throw new Error(`operation ${op} was never invoked`);
    // A completion after `closeOpen` (an inject that ended while the run was being torn
    // down) is recorded too: the history says what happened, in the order it happened.
    this.#open.delete(op);
    return this.record(type, what, value, op);
  }
}

/** The events of a `history.jsonl`; a line that is not an event is skipped. */
export function parseHistory(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as HistoryEvent;
      if (typeof e?.time === "number" && typeof e.what === "string") events.push(e);
    } catch {
      // a torn last line (the run was killed while writing)
    }
  }
  return events;
}

/** The history file of a run folder. */
export const HISTORY_FILE = "history.jsonl";

const PlannedFault = z.object({
  kind: z.string(),
  target: z.string(),
  source: z.enum(["timeline", "random"]),
});

/** An event as the harness writes it; the plan's value is the list of planned faults. */
const HistoryLine = z.object({
  time: z.number().refine(isEpochMs, "must be an epoch ms"),
  type: z.enum(["invoke", "ok", "fail", "info"]),
  what: z.string(),
  op: z.number().int().min(0).optional(),
  value: z.unknown().optional(),
}).superRefine((e, ctx) => {
  if (e.what !== "plan" || e.type !== "info") return;
  const plan = z.array(PlannedFault).safeParse(e.value);
  if (!plan.success) {
    const issue = plan.error.issues[0];
    ctx.addIssue({
      code: "custom",
      path: ["value", ...(issue?.path ?? [])] as PropertyKey[],
      message: `the plan must be a list of faults: ${issue?.message ?? "invalid"}`,
    });
  }
});

/**
 * The events of a run folder's `history.jsonl`, every line checked: a line that is not an event
 * of the harness (a torn line, a plan that is no list, a time no date holds) is an
 * `UnreadableEvidenceError` naming it. `parseHistory` is the lenient reader of a history being
 * written.
 */
export function readHistory(text: string, file = HISTORY_FILE): HistoryEvent[] {
  return parseJsonLines(file, text, HistoryLine) as HistoryEvent[];
}

/**
 * What every planned fault did, from the history: the `plan` event lists the
 * faults; each `fault:<kind>` invocation names its fault by index, and its
 * completion (and that of the matching `heal:<kind>`) says what happened.
 * An injection completes with `{target, nodes, observed}`, a heal with
 * `{target, observed}`, a failure of either with `{target, error}`.
 * Undefined when the history has no plan (a run from before the plan was recorded).
 */
export function faultRecords(events: readonly HistoryEvent[]): FaultRecord[] | undefined {
  const plan = events.find((e) => e.type === "info" && e.what === "plan");
  if (!plan) return undefined;
  const planned = z.array(PlannedFault).safeParse(plan.value);
  if (!planned.success) {
    throw new UnreadableEvidenceError(HISTORY_FILE, null, "the plan is not a list of faults");
  }
  const records: FaultRecord[] = (planned.data as PlannedFaultEntry[]).map((f) => ({
    kind: f.kind,
    target: f.target,
    source: f.source,
    nodes: [],
    injected_at: null,
    healed_at: null,
    observed: false,
    detail: {},
  }));
  // The fault of each invocation, by op.
  const faultOf = new Map<number, number>();
  for (const e of events) {
    if (e.op === undefined) continue;
    const heal = e.what.startsWith("heal:");
    if (!heal && !e.what.startsWith("fault:")) continue;
    const value = (e.value ?? {}) as Record<string, unknown>;
    if (e.type === "invoke") {
      if (typeof value.fault === "number" && records[value.fault]) faultOf.set(e.op, value.fault);
      continue;
    }
    const i = faultOf.get(e.op);
    // An indeterminate completion (the run stopped first) says nothing of the fault's effect.
    if (i === undefined || e.type === "info") continue;
    const f = records[i];
    if (heal) {
      if (e.type === "ok") f.healed_at = e.time;
      f.detail.heal = e.type === "ok" ? value.observed ?? {} : { error: value.error };
    } else if (e.type === "ok") {
      f.injected_at = e.time;
      f.observed = true;
      f.nodes = Array.isArray(value.nodes) ? value.nodes.map(nodeName) : [];
      f.detail = { ...(value.observed as Record<string, unknown> ?? {}) };
    } else {
      // A target found dead when due (chaos/timeline.ts): kept for chaos/outcome.ts.
      const notRunning = value.not_running === true ? { not_running: true } : {};
      // A graded component that dodged it (chaos/faults/dodged.ts): also for outcome.ts.
      const dodged = value.dodged === true ? { dodged: true, evidence: value.evidence } : {};
      f.detail = { error: value.error, ...notRunning, ...dodged };
    }
  }
  return records;
}

/** A node named in a history (a string; anything else as its JSON, which never throws). */
const nodeName = (n: unknown): string => typeof n === "string" ? n : JSON.stringify(n) ?? "?";

/** The run's abort (`what: "abort"`), the first if several; null when it ran to its end. */
export function abortRecord(events: readonly HistoryEvent[]): AbortRecord | null {
  const e = events.find((e) => e.what === "abort" && e.type !== "invoke");
  if (!e) return null;
  const v = (e.value ?? {}) as Partial<AbortRecord>;
  return {
    by: v.by === "probe" ? "probe" : "hand",
    at: typeof v.at === "number" ? v.at : e.time,
    detail: typeof v.detail === "string" && v.detail ? v.detail : "stopped before its end",
  };
}
