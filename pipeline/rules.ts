/**
 * The detector's rules over window aggregates. Pure. Source-keyed rules
 * (exfiltration, port scan) aggregate by `src_ip`; destination-keyed rules
 * (latency spike, reset storm) by `dst_ip`. Rule names equal the incident
 * kinds of anomalies.ts, so an alert matches an incident by (rule, entity).
 *
 * | rule          | fires when, over one window                                   | default          |
 * | ------------- | ------------------------------------------------------------- | ---------------- |
 * | exfil         | outbound bytes of a source, UDP 53 bytes weighted x10, >=     | 50,000,000       |
 * | port_scan     | distinct destination ports from the source to one target >=  | 100              |
 * | latency_spike | p95 latency of a destination >= (with at least 20 events)     | 1000 ms          |
 * | reset_storm   | share of reset (ACK+RST) or 5xx flows of a destination >= (at least 20) | 0.5  |
 *
 * The source rules only grow as a window gains events (a byte sum, a count of
 * distinct ports), so the detector evaluates them on open windows too and
 * fires as soon as one crosses. The destination rules (a quantile, a share)
 * can fall again as a window gains events; on an open window they fire early
 * only when they would still hold if the rest of the window brought twice as
 * many events per second as its received part did, every one of them harmless
 * (fast, no reset): see `earlyMargin`. Otherwise they wait for the close.
 *
 * ```ts
 * import { evaluateSource, SOURCE_AGG } from "./rules.ts";
 * const acc = SOURCE_AGG.add(SOURCE_AGG.create(), event);
 * evaluateSource("10.64.0.1", acc, DEFAULT_THRESHOLDS); // [] or [{ rule: "exfil", ... }]
 * ```
 * @module
 */

import type { IncidentKind } from "./anomalies.ts";
import type { TelemetryEvent } from "./event.ts";
import type { Aggregator, SlidingWindows } from "./windows.ts";

export type Rule = IncidentKind;

export interface Thresholds {
  exfilBytes: number;
  udp53Weight: number;
  scanPorts: number;
  latencyP95Ms: number;
  latencyMinCount: number;
  resetShare: number;
  resetMinCount: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  exfilBytes: 50_000_000,
  udp53Weight: 10,
  scanPorts: 100,
  latencyP95Ms: 1000,
  latencyMinCount: 20,
  resetShare: 0.5,
  resetMinCount: 20,
};

export interface Candidate {
  rule: Rule;
  entity: string;
  value: number;
  threshold: number;
}

type Flow =
  & Pick<
    TelemetryEvent,
    "protocol" | "dst_port" | "dst_ip" | "bytes_out" | "latency_ms" | "tcp_flags" | "http_status"
  >
  & { ts_ms?: number };

// ------------------------------------------------------------------ by source

export interface SourceAgg {
  bytes: number;
  udp53Bytes: number;
  /**
   * destination -> its distinct ports: the port itself while there is one (most pairs of a
   * pane: no set made per event), a set from the second on.
   */
  ports: Map<string, number | Set<number>>;
  /** The most distinct ports to one destination (the largest in `ports`). */
  maxPorts: number;
  /** The latest event time counted. */
  maxTs: number;
}

/** How many distinct ports an entry of `SourceAgg.ports` holds. */
const portCount = (p: number | Set<number>) => typeof p === "number" ? 1 : p.size;

export const SOURCE_AGG: Aggregator<SourceAgg, Flow> = {
  create: () => ({ bytes: 0, udp53Bytes: 0, ports: new Map(), maxPorts: 0, maxTs: -Infinity }),
  add(acc, e) {
    if (e.protocol === "UDP" && e.dst_port === 53) acc.udp53Bytes += e.bytes_out;
    else acc.bytes += e.bytes_out;
    const ports = acc.ports.get(e.dst_ip);
    if (ports === undefined) {
      acc.ports.set(e.dst_ip, e.dst_port);
      if (acc.maxPorts < 1) acc.maxPorts = 1;
    } else if (typeof ports === "number") {
      if (ports !== e.dst_port) {
        acc.ports.set(e.dst_ip, new Set([ports, e.dst_port]));
        if (acc.maxPorts < 2) acc.maxPorts = 2;
      }
    } else {
      ports.add(e.dst_port);
      if (ports.size > acc.maxPorts) acc.maxPorts = ports.size;
    }
    if (e.ts_ms !== undefined && e.ts_ms > acc.maxTs) acc.maxTs = e.ts_ms;
    return acc;
  },
  merge(a, b) {
    const ports = new Map<string, number | Set<number>>();
    let maxPorts = 0;
    for (const src of [a.ports, b.ports]) {
      for (const [dst, from] of src) {
        const into = ports.get(dst);
        let merged: number | Set<number>;
        if (into === undefined) merged = typeof from === "number" ? from : new Set(from);
        else if (typeof into === "number") {
          merged = typeof from === "number"
            ? (from === into ? into : new Set([into, from]))
            : new Set(from).add(into);
        } else {
          if (typeof from === "number") into.add(from);
          else for (const p of from) into.add(p);
          merged = into;
        }
        if (merged !== into) ports.set(dst, merged);
        maxPorts = Math.max(maxPorts, portCount(merged));
      }
    }
    return {
      bytes: a.bytes + b.bytes,
      udp53Bytes: a.udp53Bytes + b.udp53Bytes,
      ports,
      maxPorts,
      maxTs: Math.max(a.maxTs, b.maxTs),
    };
  },
};

/**
 * Whether the source rules could hold over the union of these panes: the
 * exact weighted byte sum, and the sum of each pane's largest port count (at
 * least the union's). Cheap, so partial windows are merged only when it says so.
 */
export function sourceMayFire(panes: readonly SourceAgg[], t: Thresholds): boolean {
  let weighted = 0;
  let ports = 0;
  for (const a of panes) {
    weighted += a.bytes + a.udp53Bytes * t.udp53Weight;
    ports += a.maxPorts;
  }
  return weighted >= t.exfilBytes || ports >= t.scanPorts;
}

/** A rule that holds over the part received so far of a window still open. */
export interface EarlyCandidate {
  candidate: Candidate;
  /** The window's start, and just after the last event counted. */
  window: { start: number; end: number };
}

/**
 * The rules over the open windows of every entity that gained events since
 * the last call (`windows` tracks them), each entity's oldest window first: it
 * holds the most of the entity's events, so it crosses first. `mayFire` sees
 * the pane aggregates and skips the merge of windows that cannot fire.
 */
function earlyCandidates<A extends { maxTs: number }, X>(
  windows: SlidingWindows<A, X>,
  mayFire: (panes: A[]) => boolean,
  evaluate: (entity: string, acc: A, window: { start: number; end: number }) => Candidate[],
): EarlyCandidate[] {
  const out: EarlyCandidate[] = [];
  for (const [entity, panes] of windows.takeTouched()) {
    const open = new Map<number, { start: number; end: number; acc: A }>();
    for (const pane of panes) {
      for (const w of windows.openWindowsOf(entity, pane, mayFire)) open.set(w.start, w);
    }
    for (const w of [...open.values()].sort((a, b) => a.start - b.start)) {
      for (const candidate of evaluate(entity, w.acc, w)) {
        out.push({ candidate, window: { start: w.start, end: w.acc.maxTs + 1 } });
      }
    }
  }
  return out;
}

/** The source rules over the open windows touched since the last call. */
export function earlySourceCandidates<X>(
  windows: SlidingWindows<SourceAgg, X>,
  t: Thresholds,
): EarlyCandidate[] {
  return earlyCandidates(
    windows,
    (panes) => sourceMayFire(panes, t),
    (entity, acc) => evaluateSource(entity, acc, t),
  );
}

export function evaluateSource(entity: string, acc: SourceAgg, t: Thresholds): Candidate[] {
  const out: Candidate[] = [];
  const weighted = acc.bytes + acc.udp53Bytes * t.udp53Weight;
  if (weighted >= t.exfilBytes) {
    out.push({ rule: "exfil", entity, value: weighted, threshold: t.exfilBytes });
  }
  if (acc.maxPorts >= t.scanPorts) {
    out.push({ rule: "port_scan", entity, value: acc.maxPorts, threshold: t.scanPorts });
  }
  return out;
}

// ------------------------------------------------------------- by destination

/** Upper edges (ms) of the latency histogram buckets; the last is open. */
const LATENCY_EDGES = [
  5,
  10,
  20,
  30,
  40,
  50,
  75,
  100,
  150,
  200,
  300,
  500,
  750,
  1000,
  1500,
  2000,
  3000,
  5000,
  7500,
  10_000,
  Infinity,
];

export interface DestinationAgg {
  count: number;
  resets: number;
  /** Counts per bucket of `LATENCY_EDGES`. */
  latency: number[];
  /** The latest event time counted. */
  maxTs: number;
}

function bucket(ms: number): number {
  let i = 0;
  while (ms > LATENCY_EDGES[i]) i++;
  return i;
}

export const DESTINATION_AGG: Aggregator<DestinationAgg, Flow> = {
  create: () => ({
    count: 0,
    resets: 0,
    latency: new Array(LATENCY_EDGES.length).fill(0),
    maxTs: -Infinity,
  }),
  add(acc, e) {
    acc.count++;
    // An established connection reset (RST after ACK) or a server error. A bare SYN,RST is a
    // refused connection (a closed port answering a scan), not a service resetting clients.
    const reset = e.tcp_flags.includes("RST") && e.tcp_flags.includes("ACK");
    if (reset || (e.http_status !== null && e.http_status >= 500)) {
      acc.resets++;
    }
    acc.latency[bucket(e.latency_ms)]++;
    if (e.ts_ms !== undefined && e.ts_ms > acc.maxTs) acc.maxTs = e.ts_ms;
    return acc;
  },
  merge(a, b) {
    return {
      count: a.count + b.count,
      resets: a.resets + b.resets,
      latency: a.latency.map((n, i) => n + b.latency[i]),
      maxTs: Math.max(a.maxTs, b.maxTs),
    };
  },
};

/** The latency at quantile q, as the upper edge of its histogram bucket (the last finite edge for the open one). */
export function latencyQuantile(acc: DestinationAgg, q: number): number {
  const need = Math.ceil(q * acc.count);
  let seen = 0;
  for (let i = 0; i < LATENCY_EDGES.length; i++) {
    seen += acc.latency[i];
    if (seen >= need && need > 0) {
      return Number.isFinite(LATENCY_EDGES[i]) ? LATENCY_EDGES[i] : LATENCY_EDGES[i - 1];
    }
  }
  return 0;
}

/**
 * The destination rules over a window's aggregate. `margin` (default 0) adds
 * that many harmless events (fastest bucket, no reset) before the quantile and
 * the share are taken, for early firing; the minimum counts and the reported
 * values are those of the events really counted.
 */
export function evaluateDestination(
  entity: string,
  acc: DestinationAgg,
  t: Thresholds,
  margin = 0,
): Candidate[] {
  const out: Candidate[] = [];
  if (acc.count >= t.latencyMinCount) {
    const padded = margin > 0
      ? { ...acc, count: acc.count + margin, latency: acc.latency.with(0, acc.latency[0] + margin) }
      : acc;
    if (latencyQuantile(padded, 0.95) > t.latencyP95Ms) {
      const p95 = latencyQuantile(acc, 0.95);
      out.push({ rule: "latency_spike", entity, value: p95, threshold: t.latencyP95Ms });
    }
  }
  if (acc.count >= t.resetMinCount && acc.resets / (acc.count + margin) >= t.resetShare) {
    const share = acc.resets / acc.count;
    out.push({ rule: "reset_storm", entity, value: share, threshold: t.resetShare });
  }
  return out;
}

/** The first latency bucket whose upper edge is above the threshold. */
function firstSlowBucket(t: Thresholds): number {
  return LATENCY_EDGES.findIndex((edge) => edge > t.latencyP95Ms);
}

/**
 * Whether the destination rules could hold over the union of these panes
 * (without margin): exact sums of counts, resets and slow events (those in a
 * bucket whose upper edge is above the threshold, without which no p95 is).
 */
export function destinationMayFire(panes: readonly DestinationAgg[], t: Thresholds): boolean {
  const from = firstSlowBucket(t);
  let count = 0;
  let resets = 0;
  let slow = 0;
  for (const a of panes) {
    count += a.count;
    resets += a.resets;
    for (let i = from; i < a.latency.length; i++) slow += a.latency[i];
  }
  return (count >= t.latencyMinCount && slow > 0) ||
    (count >= t.resetMinCount && resets >= t.resetShare * count);
}

/** How much faster than seen the rest of an open window is assumed to bring events. */
export const EARLY_RATE_FACTOR = 2;

/**
 * The harmless events an open window `[start, end)` is assumed still to get,
 * for the destination rules to fire on it early: `count` events were received
 * while event time progressed from `start` to `progress` (the smallest largest
 * event time over the partitions); the rest of the window plus the
 * out-of-orderness bound is assumed to bring `EARLY_RATE_FACTOR` times that
 * rate. Event time that has not progressed past `start` by a second yet
 * counts as one second, which asks for a margin no real storm clears.
 */
export function earlyMargin(
  count: number,
  window: { start: number; end: number },
  progress: number,
  outOfOrderMs: number,
): number {
  const elapsed = Math.max(1000, Math.min(progress, window.end) - window.start);
  const rest = Math.max(0, window.end - progress) + outOfOrderMs;
  return Math.ceil((EARLY_RATE_FACTOR * count * rest) / elapsed);
}

/**
 * The destination rules over the open windows touched since the last call,
 * each with the margin of `earlyMargin`: `progress` is the windows' event-time
 * progress (`SlidingWindows.progress`).
 */
export function earlyDestinationCandidates<X>(
  windows: SlidingWindows<DestinationAgg, X>,
  t: Thresholds,
  progress: number,
): EarlyCandidate[] {
  return earlyCandidates(
    windows,
    (panes) => destinationMayFire(panes, t),
    (entity, acc, window) =>
      evaluateDestination(
        entity,
        acc,
        t,
        earlyMargin(acc.count, window, progress, windows.outOfOrderMs),
      ),
  );
}
