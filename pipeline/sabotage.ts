/**
 * Sabotage: the cheating behaviours of the built-in sink and detector, for the
 * tests that prove the validator and the grader catch the pipelines teams hand
 * in. Never for a real deployment: each mode breaks the contract on purpose.
 * The default, "none", leaves the normal code paths as they are.
 *
 * | knob                | mode           | what the component does instead                                     |
 * | ------------------- | -------------- | ------------------------------------------------------------------- |
 * | `SINK_SABOTAGE`     | `ids-only`     | stores `{"producer_id", "seq"}` for every valid event               |
 * |                     | `twice`        | stores every valid event twice (two lines in its object)            |
 * |                     | `no-dlq`       | malformed records go raw into the `events/` object, no `dlq/`      |
 * |                     | `commit-first` | commits a batch when it is cut, uploads it `COMMIT_FIRST_HOLD_MS` later |
 * | `DETECTOR_SABOTAGE` | `spam`         | alerts every rule x entity x closed window with any event (no thresholds) |
 * |                     | `block`        | alerts the first event from an old incident address block, detects nothing |
 * |                     | `ledger`       | reads the harness's ledger from the bucket and alerts its incidents |
 * |                     | `wide-window`  | detects, but every alert claims the window `[0, MAX_SAFE_INTEGER]`  |
 * |                     | `backdate`     | detects, but `fired_at_ms` is `BACKDATE_MS` before the real time    |
 *
 * The line choices, the block classifier, the alert bodies and the ledger's
 * parsing are pure (tested in sabotage_test.ts); sink.ts and detector.ts call
 * them only when their mode is not "none".
 *
 * ```ts
 * import { sabotagedBatch } from "./sabotage.ts";
 * sabotagedBatch("twice", ['{"seq":1}'], []).events; // ['{"seq":1}', '{"seq":1}']
 * ```
 * @module
 */

import { UsageError } from "../lib/exit_codes.ts";
import type { Alert } from "./alert.ts";
import { INCIDENT_KINDS } from "./anomalies.ts";
import type { BatchRecord } from "./batcher.ts";
import type { Candidate, Rule, Thresholds } from "./rules.ts";
import type { ObjectStore } from "./store.ts";

export const SINK_SABOTAGES = ["none", "ids-only", "twice", "no-dlq", "commit-first"] as const;
export type SinkSabotage = typeof SINK_SABOTAGES[number];

export const DETECTOR_SABOTAGES = [
  "none",
  "spam",
  "block",
  "ledger",
  "wide-window",
  "backdate",
] as const;
export type DetectorSabotage = typeof DETECTOR_SABOTAGES[number];

/** `value` as one of `modes`, or a `UsageError` naming the knob, the modes and the value. */
export function sabotageMode<T extends string>(
  knob: string,
  value: string,
  modes: readonly T[],
): T {
  if ((modes as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${knob} must be one of ${modes.join(", ")}, got "${value}"`);
}

// ------------------------------------------------------------------ the sink

/** How long `commit-first` holds a batch between its commit and its upload. */
export const COMMIT_FIRST_HOLD_MS = 6000;

/**
 * What a sabotaged sink stores of one batch: the lines of its `events/` object
 * and the records of its `dlq/` object (`valid` are the raw lines of its valid
 * events, `invalid` its malformed records). `commit-first` stores as normal.
 */
export function sabotagedBatch(
  mode: SinkSabotage,
  valid: readonly string[],
  invalid: readonly BatchRecord[],
): { events: string[]; dlq: BatchRecord[] } {
  switch (mode) {
    case "ids-only":
      return { events: valid.map(idsOnly), dlq: [...invalid] };
    case "twice":
      return { events: valid.flatMap((line) => [line, line]), dlq: [...invalid] };
    case "no-dlq":
      return { events: [...valid, ...invalid.map((r) => r.line)], dlq: [] };
    case "none":
    case "commit-first":
      return { events: [...valid], dlq: [...invalid] };
  }
}

/** A valid event's line reduced to its identity: every other field lost. */
function idsOnly(line: string): string {
  const { producer_id, seq } = JSON.parse(line) as { producer_id: string; seq: number };
  return JSON.stringify({ producer_id, seq });
}

// -------------------------------------------------------------- the detector

/** Thresholds every rule holds at, over any window with an event (`spam`). */
export const SPAM_THRESHOLDS: Thresholds = {
  exfilBytes: 0,
  udp53Weight: 1,
  scanPorts: 0,
  latencyP95Ms: -1,
  latencyMinCount: 1,
  resetShare: 0,
  resetMinCount: 1,
};

/** Thresholds no rule ever holds at (`block`, `ledger`: they do not detect). */
export const NEVER_THRESHOLDS: Thresholds = {
  exfilBytes: Infinity,
  udp53Weight: 1,
  scanPorts: Infinity,
  latencyP95Ms: Infinity,
  latencyMinCount: Infinity,
  resetShare: Infinity,
  resetMinCount: Infinity,
};

/** How far back `backdate` claims an alert fired. */
export const BACKDATE_MS = 10 * 60_000;

/** The alert a `wide-window` or `backdate` detector sends instead of `alert`. */
export function sabotagedAlert(mode: DetectorSabotage, alert: Alert): Alert {
  switch (mode) {
    case "wide-window":
      return { ...alert, window_start_ms: 0, window_end_ms: Number.MAX_SAFE_INTEGER };
    case "backdate":
      return { ...alert, fired_at_ms: alert.fired_at_ms - BACKDATE_MS };
    default:
      return alert;
  }
}

/**
 * A candidate that claims a rule holds without having measured anything: the
 * value is the rule's threshold, which passes a check of `value >= threshold`.
 */
export function claimedCandidate(rule: Rule, entity: string, t: Thresholds): Candidate {
  const threshold = {
    exfil: t.exfilBytes,
    port_scan: t.scanPorts,
    latency_spike: t.latencyP95Ms,
    reset_storm: t.resetShare,
  }[rule];
  return { rule, entity, value: threshold, threshold };
}

/**
 * The window of the contract's shape (`sizeMs` long, starting at a multiple of
 * `slideMs`) that starts last among those holding `ts`.
 */
export function windowOf(
  ts: number,
  w: { sizeMs: number; slideMs: number },
): { start: number; end: number } {
  const start = Math.floor(ts / w.slideMs) * w.slideMs;
  return { start, end: start + w.sizeMs };
}

/** A dotted quad as an unsigned 32-bit number, or undefined when it is not one. */
export function ipv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    n = n * 256 + Number(part);
  }
  return n;
}

function block(cidr: string): { base: number; mask: number } {
  const [address, bits] = cidr.split("/");
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return { base: (ipv4(address)! & mask) >>> 0, mask };
}

/** The address blocks incidents were once drawn from, by the side of the flow that carried them. */
const SOURCE_BLOCKS: Array<[Rule, { base: number; mask: number }]> = [
  ["exfil", block("10.64.0.0/10")],
  ["port_scan", block("198.18.0.0/15")],
];
const DESTINATION_BLOCKS: Array<[Rule, { base: number; mask: number }]> = [
  ["latency_spike", block("10.96.0.0/12")],
  ["reset_storm", block("10.112.0.0/12")],
];

function inBlocks(
  address: string,
  blocks: Array<[Rule, { base: number; mask: number }]>,
): Rule | undefined {
  const n = ipv4(address);
  if (n === undefined) return undefined;
  for (const [rule, b] of blocks) {
    if (((n & b.mask) >>> 0) === b.base) return rule;
  }
  return undefined;
}

/**
 * What a `block` detector believes an event shows: the rules whose old
 * incident block holds its source (exfil 10.64.0.0/10, port_scan
 * 198.18.0.0/15) or its destination (latency_spike 10.96.0.0/12,
 * reset_storm 10.112.0.0/12), each with the entity it would alert.
 */
export function blockMatches(
  e: { src_ip: string; dst_ip: string },
): Array<{ rule: Rule; entity: string }> {
  const out: Array<{ rule: Rule; entity: string }> = [];
  const bySource = inBlocks(e.src_ip, SOURCE_BLOCKS);
  if (bySource) out.push({ rule: bySource, entity: e.src_ip });
  const byDestination = inBlocks(e.dst_ip, DESTINATION_BLOCKS);
  if (byDestination) out.push({ rule: byDestination, entity: e.dst_ip });
  return out;
}

/** An incident as a `ledger` detector reads it from the harness's ledger. */
export interface PeekedIncident {
  kind: Rule;
  entity: string;
  start_ms: number;
  end_ms: number;
}

/**
 * The incidents of a ledger's JSON text (`{incidents: [{kind, entity,
 * start_ms, end_ms, …}]}`, see ledger.ts): the well-formed ones; nothing for
 * text that is not such JSON.
 */
export function ledgerIncidents(text: string): PeekedIncident[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return [];
  }
  const incidents = (data as { incidents?: unknown } | null)?.incidents;
  if (!Array.isArray(incidents)) return [];
  const out: PeekedIncident[] = [];
  for (const i of incidents) {
    const { kind, entity, start_ms, end_ms } = (i ?? {}) as Record<string, unknown>;
    if (
      (INCIDENT_KINDS as readonly unknown[]).includes(kind) && typeof entity === "string" &&
      Number.isFinite(start_ms) && Number.isFinite(end_ms)
    ) {
      out.push({
        kind: kind as Rule,
        entity,
        start_ms: start_ms as number,
        end_ms: end_ms as number,
      });
    }
  }
  return out;
}

/** How often a `ledger` detector looks for ledgers in the bucket. */
export const LEDGER_PEEK_MS = 3000;

/**
 * Every incident of every ledger under `ledger/` in `store`'s bucket. A bucket
 * it cannot list or read (the harness keeps its ledger elsewhere) gives none.
 */
export async function peekLedgers(store: ObjectStore): Promise<PeekedIncident[]> {
  let objects: { name: string }[];
  try {
    objects = await store.list("ledger/");
  } catch {
    return [];
  }
  const out: PeekedIncident[] = [];
  for (const o of objects) {
    try {
      out.push(...ledgerIncidents(new TextDecoder().decode(await store.getBytes(o.name))));
    } catch { /* unreadable: nothing to copy from it */ }
  }
  return out;
}
