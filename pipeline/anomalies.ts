/**
 * Injected anomalies. Each kind is an incident: a time span, one entity (the
 * address a detector keys on) and the events that make it visible. Incidents
 * can be scheduled (a scenario says when) or start at random (CHAOS_MODE with
 * the *_PROB knobs). Pure: `planIncident` turns a kind, an entity and a time
 * span into timed flows with the same `Rng` giving the same flows.
 *
 * | kind           | entity            | what the events show                                        |
 * | -------------- | ----------------- | ----------------------------------------------------------- |
 * | exfil          | src_ip: a device  | >= 10 MB outbound on UDP 53 to a resolver, tiny inbound      |
 * | port_scan      | src_ip: a device  | 100+ sequential destination ports of one external host, fast |
 * | latency_spike  | dst_ip: a service | latencies of 2000 ms and more: 20 % of the window or more   |
 * | reset_storm    | dst_ip: a service | TCP RST flags and HTTP 503: 2/3 of the window or more        |
 *
 * Entities are ordinary addresses (traffic.ts): devices that keep sending
 * their baseline traffic, services that keep receiving theirs, and the
 * incidents' other ends (resolvers, external hosts, devices) are baseline
 * addresses too. So no address gives an incident away; only its events do.
 * Which ones a run takes is drawn from a secret of the run's (`entityWalk`,
 * keyed with HMAC-SHA256): the harness derives it from its own key and the run
 * id and never hands it to the pipeline, so nothing on the topic (the run id
 * in every `producer_id`) predicts an incident's entity. One walk per key
 * (src_ip, dst_ip), so two incidents of a run never share an entity while the
 * pool lasts (4,000 devices, 2,000 services).
 *
 * A service also keeps its baseline events in the window of its incident, so
 * the destination kinds are sized against them (`baseline_eps`, the run's
 * rate times the service's share): a 60 s window (the contract's default,
 * `SIZING_WINDOW_MS`) that holds the whole incident holds at least twice as
 * many resets as baseline events, and slow events at least a quarter of them,
 * with the baseline bounded at six standard deviations above its mean.
 *
 * ```ts
 * import { planIncident } from "./anomalies.ts";
 * const plan = planIncident(new Rng(1), { id: "i1", kind: "exfil", entity: "10.0.3.7", start_ms: 0, duration_ms: 20_000 });
 * ```
 * @module
 */

import { createHmac } from "node:crypto";
import type { Rng } from "./rng.ts";
import {
  context,
  DEVICE_COUNT,
  DEVICE_IPS,
  deviceIp,
  EXTERNAL,
  type Flow,
  RESOLVERS,
  SERVICE_IPS,
} from "./traffic.ts";

export const INCIDENT_KINDS = ["exfil", "port_scan", "latency_spike", "reset_storm"] as const;
export type IncidentKind = typeof INCIDENT_KINDS[number];

export interface Incident {
  id: string;
  kind: IncidentKind;
  entity: string;
  /** Event time of the first and last event of the incident. */
  start_ms: number;
  end_ms: number;
  /** How many events carry it. */
  events: number;
  scheduled: boolean;
}

export interface PlannedFlow {
  at_ms: number;
  flow: Flow;
}

export interface IncidentPlan {
  incident: Incident;
  flows: PlannedFlow[];
}

export interface IncidentSpec {
  id: string;
  kind: IncidentKind;
  entity: string;
  start_ms: number;
  duration_ms: number;
  scheduled?: boolean;
  /**
   * Baseline events per second sent to the entity (destination kinds): the incident is sized to
   * stand out of them in a `SIZING_WINDOW_MS` window. Default 0.
   */
  baseline_eps?: number;
}

/** Minimum outbound bytes of an exfiltration incident. */
export const EXFIL_MIN_BYTES = 10 * 1024 * 1024;
/** Minimum distinct sequential ports of a port scan. */
export const SCAN_MIN_PORTS = 100;
/** Minimum events of latency spikes and reset storms. */
export const STORM_MIN_EVENTS = 20;

/** The detector window incidents are sized for: the contract's default `WINDOW_SIZE`. */
export const SIZING_WINDOW_MS = 60_000;
/** The most events per second a latency spike or reset storm sends, however busy its entity. */
export const MAX_INCIDENT_EPS = 500;

/** The address each kind's rule keys on (rules.ts): where its entity is. */
export const ENTITY_KEY = {
  exfil: "src_ip",
  port_scan: "src_ip",
  latency_spike: "dst_ip",
  reset_storm: "dst_ip",
} as const satisfies Record<IncidentKind, "src_ip" | "dst_ip">;
export type EntityKey = typeof ENTITY_KEY[IncidentKind];

/**
 * Where entities are drawn from, per key: the baseline's devices (every source of ordinary
 * traffic) and its internal services (destinations that get little enough traffic for an
 * incident to stand out; the resolvers and external hosts get 500 times as much).
 */
export const ENTITY_POOLS: Record<EntityKey, readonly string[]> = {
  src_ip: DEVICE_IPS,
  dst_ip: SERVICE_IPS,
};

/** How many generator processes' worker offsets get stretches of a walk of their own. */
const OFFSET_SLOTS = 64;

const gcd = (a: number, b: number): number => b === 0 ? a : gcd(b, a % b);

/** A 32-bit draw of `label` keyed with `secret` (HMAC-SHA256): unpredictable without the secret. */
function keyedDraw(secret: string, label: string): number {
  return createHmac("sha256", secret).update(label).digest().readUInt32BE(0);
}

/**
 * The entities of one run for one key, in the order its incidents take them: a walk over the
 * key's pool that starts at a place and steps by a stride (coprime with the pool's size), both
 * drawn from the run's entity secret (`keyedDraw`), so the first `pool.length` entities are
 * distinct, each secret gives others, and whoever lacks the secret (a detector that knows the
 * run id) cannot tell which. The same secret gives the same walk. A generator with worker offset
 * `o` (one of several processes sharing a run and its secret) starts `o * floor(pool / 64)` steps
 * further: processes whose offsets are below 64 take disjoint stretches of `floor(pool / 64)`
 * entities per worker (62 devices, 31 services).
 */
export function entityWalk(
  key: EntityKey,
  secret: string,
  workerOffset = 0,
): (n: number) => string {
  const pool = ENTITY_POOLS[key];
  const size = pool.length;
  const start = keyedDraw(secret, `${key}/start`) % size;
  let stride = 1 + keyedDraw(secret, `${key}/stride`) % (size - 1);
  while (gcd(stride, size) !== 1) stride = stride % (size - 1) + 1;
  const skip = (workerOffset % OFFSET_SLOTS) * Math.floor(size / OFFSET_SLOTS);
  return (n) => pool[(start + ((skip + n) % size) * stride) % size];
}

/** The `n`-th (0-based) entity of a kind for entity secret `secret`: `entityWalk` of the kind's key. */
export function incidentEntity(
  kind: IncidentKind,
  n: number,
  secret = "",
  workerOffset = 0,
): string {
  return entityWalk(ENTITY_KEY[kind], secret, workerOffset)(n);
}

/** A fresh random entity secret (64 hex digits), for a generator run outside the harness. */
export function randomEntitySecret(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/**
 * The most baseline events an entity that gets `eps` of them per second receives in one
 * `windowMs` window: the (Poisson) mean, plus six standard deviations, plus 10.
 */
export function baselineWindowBound(eps: number, windowMs = SIZING_WINDOW_MS): number {
  const mean = (eps * windowMs) / 1000;
  return Math.ceil(mean + 6 * Math.sqrt(mean) + 10);
}

/**
 * Events of a latency spike or reset storm: at least `floor`, and at least `perBaseline` times
 * the baseline events of the window that holds the most of them (an incident longer than the
 * window spreads over several), at most `MAX_INCIDENT_EPS` per second.
 */
function stormEvents(spec: IncidentSpec, floor: number, perBaseline: number): number {
  const baseline = baselineWindowBound(spec.baseline_eps ?? 0);
  const spread = Math.max(1, spec.duration_ms / SIZING_WINDOW_MS);
  const wanted = Math.max(floor, Math.ceil(perBaseline * baseline * spread));
  return Math.min(wanted, Math.max(floor, Math.ceil((MAX_INCIDENT_EPS * spec.duration_ms) / 1000)));
}

const randomDevice = (rng: Rng) => deviceIp(rng.int(0, DEVICE_COUNT - 1));

/**
 * A latency in ms from a normal draw: rounded to 0.1 and never below 0, since a
 * normal tail is unbounded and the event schema (rightly) rejects a negative
 * round trip; a valid event must never land in the DLQ.
 */
function ms(draw: number): number {
  return Math.max(0, Math.round(draw * 10) / 10);
}

/** Timed flows of one incident. */
export function planIncident(rng: Rng, spec: IncidentSpec): IncidentPlan {
  const flows = FLOWS[spec.kind](rng, spec);
  flows.sort((a, b) => a.at_ms - b.at_ms);
  return {
    incident: {
      id: spec.id,
      kind: spec.kind,
      entity: spec.entity,
      start_ms: flows[0].at_ms,
      end_ms: flows[flows.length - 1].at_ms,
      events: flows.length,
      scheduled: spec.scheduled ?? false,
    },
    flows,
  };
}

function spread(spec: IncidentSpec, count: number, spanMs = spec.duration_ms): number[] {
  const step = count > 1 ? spanMs / (count - 1) : 0;
  return Array.from({ length: count }, (_, i) => Math.round(spec.start_ms + i * step));
}

const FLOWS: Record<IncidentKind, (rng: Rng, spec: IncidentSpec) => PlannedFlow[]> = {
  exfil(rng, spec) {
    const count = Math.max(8, Math.min(60, Math.round(spec.duration_ms / 500)));
    // DNS tunnelling goes through the resolvers every device uses.
    const target = rng.pick(RESOLVERS);
    const per = Math.ceil((EXFIL_MIN_BYTES * 1.2) / count);
    return spread(spec, count).map((at_ms) => ({
      at_ms,
      flow: {
        src_ip: spec.entity,
        dst_ip: target,
        src_port: rng.int(32768, 60999),
        dst_port: 53,
        protocol: "UDP",
        bytes_out: per + rng.int(0, Math.floor(per / 10)),
        bytes_in: rng.int(40, 200),
        packets: Math.ceil(per / 512),
        latency_ms: ms(rng.normal(30, 5)),
        tcp_flags: "",
        http_status: null,
        action: "ACCEPT",
        ...context(spec.entity, "egress"),
      },
    }));
  },
  port_scan(rng, spec) {
    const count = rng.int(SCAN_MIN_PORTS + 20, SCAN_MIN_PORTS + 100);
    const first = rng.int(1, 1024);
    // An outbound scan of a host devices talk to anyway (never a destination entity: no
    // latency spike or reset storm is diluted by a scan's fast, harmless events).
    const target = rng.pick(EXTERNAL);
    const span = Math.min(spec.duration_ms, 5000);
    return spread(spec, count, span).map((at_ms, i) => ({
      at_ms,
      flow: {
        src_ip: spec.entity,
        dst_ip: target,
        src_port: rng.int(40000, 60999),
        dst_port: first + i,
        protocol: "TCP",
        bytes_out: 60,
        bytes_in: rng.chance(0.9) ? 40 : 0,
        packets: 2,
        latency_ms: ms(rng.normal(2, 0.5) + 0.5),
        tcp_flags: rng.chance(0.9) ? "SYN,RST" : "SYN,ACK",
        http_status: null,
        action: rng.chance(0.7) ? "REJECT" : "ACCEPT",
        ...context(spec.entity, "egress"),
      },
    }));
  },
  latency_spike(rng, spec) {
    // Slow events: 20 % of the window or more (a p95 needs 5 %).
    const count = stormEvents(
      spec,
      Math.max(STORM_MIN_EVENTS + 10, Math.round(spec.duration_ms / 250)),
      0.25,
    );
    return spread(spec, count).map((at_ms) => {
      const src = randomDevice(rng);
      return {
        at_ms,
        flow: {
          src_ip: src,
          dst_ip: spec.entity,
          src_port: rng.int(32768, 60999),
          dst_port: 8443,
          protocol: "TCP",
          bytes_out: rng.int(300, 3000),
          bytes_in: rng.int(500, 30000),
          packets: rng.int(6, 40),
          latency_ms: rng.int(2000, 6000),
          tcp_flags: "SYN,ACK,PSH,FIN",
          http_status: rng.chance(0.8) ? 200 : 504,
          action: "ACCEPT",
          ...context(src, "egress"),
        },
      };
    });
  },
  reset_storm(rng, spec) {
    // Resets: 2/3 of the window or more (the rule needs half).
    const count = stormEvents(
      spec,
      Math.max(STORM_MIN_EVENTS + 10, Math.round(spec.duration_ms / 200)),
      2,
    );
    return spread(spec, count).map((at_ms) => {
      const src = randomDevice(rng);
      const http = rng.chance(0.7);
      return {
        at_ms,
        flow: {
          src_ip: src,
          dst_ip: spec.entity,
          src_port: rng.int(32768, 60999),
          dst_port: 8080,
          protocol: "TCP",
          bytes_out: rng.int(60, 400),
          bytes_in: rng.int(0, 200),
          packets: rng.int(2, 4),
          latency_ms: ms(rng.normal(15, 4) + 1),
          tcp_flags: "SYN,ACK,RST",
          http_status: http ? 503 : null,
          action: "ACCEPT",
          ...context(src, "egress"),
        },
      };
    });
  },
};
