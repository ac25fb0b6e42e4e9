/**
 * Injected anomalies. Each kind is an incident: a time span, one entity (the
 * address a detector keys on) and the events that make it visible. Incidents
 * can be scheduled (a scenario says when) or start at random (CHAOS_MODE with
 * the *_PROB knobs). Pure: `planIncident` turns a kind, an entity and a time
 * span into timed flows with the same `Rng` giving the same flows.
 *
 * | kind           | entity   | what the events show                                   |
 * | -------------- | -------- | ------------------------------------------------------ |
 * | exfil          | src_ip   | >= 10 MB outbound on UDP 53, tiny inbound               |
 * | port_scan      | src_ip   | 100+ sequential destination ports of one target, fast  |
 * | latency_spike  | dst_ip   | latencies of 2000 ms and more, at least 20 events      |
 * | reset_storm    | dst_ip   | TCP RST flags and HTTP 503, at least 20 events         |
 *
 * Entities come from ranges baseline traffic never uses (see traffic.ts), one
 * fresh address per incident, so two incidents never share an entity.
 *
 * ```ts
 * import { planIncident } from "./anomalies.ts";
 * const plan = planIncident(new Rng(1), { id: "i1", kind: "exfil", entity: "10.64.0.1", start_ms: 0, duration_ms: 20_000 });
 * ```
 * @module
 */

import type { Rng } from "./rng.ts";
import { context, DEVICE_COUNT, deviceIp, type Flow } from "./traffic.ts";

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
}

/** Minimum outbound bytes of an exfiltration incident. */
export const EXFIL_MIN_BYTES = 10 * 1024 * 1024;
/** Minimum distinct sequential ports of a port scan. */
export const SCAN_MIN_PORTS = 100;
/** Minimum events of latency spikes and reset storms. */
export const STORM_MIN_EVENTS = 20;

const BASES: Record<IncidentKind, [number, number]> = {
  exfil: [10, 64],
  port_scan: [198, 18],
  latency_spike: [10, 96],
  reset_storm: [10, 112],
};

/** The `n`-th (0-based) entity address of a kind: unique per kind and n < 65000. */
export function incidentEntity(kind: IncidentKind, n: number): string {
  const [a, b] = BASES[kind];
  const m = n + 1;
  return `${a}.${b + ((m >> 16) & 7)}.${(m >> 8) & 255}.${m & 255}`;
}

const randomDevice = (rng: Rng) => deviceIp(rng.int(0, DEVICE_COUNT - 1));

/** Timed flows of one incident. */
/**
 * A latency in ms from a normal draw: rounded to 0.1 and never below 0, since a
 * normal tail is unbounded and the event schema (rightly) rejects a negative
 * round trip; a valid event must never land in the DLQ.
 */
function ms(draw: number): number {
  return Math.max(0, Math.round(draw * 10) / 10);
}

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
    const target = `185.220.${rng.int(100, 103)}.${rng.int(2, 250)}`;
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
    const target = `10.2.${rng.int(1, 3)}.${rng.int(1, 254)}`;
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
        ...context(spec.entity, "ingress"),
      },
    }));
  },
  latency_spike(rng, spec) {
    const count = Math.max(STORM_MIN_EVENTS + 10, Math.round(spec.duration_ms / 250));
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
    const count = Math.max(STORM_MIN_EVENTS + 10, Math.round(spec.duration_ms / 200));
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
