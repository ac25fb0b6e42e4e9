/**
 * Stored results for renderer tests: a pass, a fail with lost seqs and an
 * unknown (vacuous) run, with per-second samples, incidents and alerts.
 * @module
 */

import type { Results } from "../validate/results.ts";
import type { ReportData } from "./html.ts";
import type { Sample } from "../validate/samples.ts";

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);

function samples(): Sample[] {
  return Array.from({ length: 120 }, (_, i) => ({
    t: T0 + i * 1000,
    elapsed_ms: i * 1000,
    acked_eps: i >= 30 && i < 42 ? 2000 : 10_000,
    acked: i * 10_000,
    p95_send_ms: i >= 30 && i < 42 ? 1800 : 25,
    sink_lag: i % 2 ? 20_000 : null,
    faults: i >= 30 && i < 60 ? ["kill broker:leader-of-incident(0)"] : [],
  }));
}

function base(): Results {
  return {
    scenario: "exfil-under-broker-loss",
    description: "SIGKILL the leader mid-incident",
    seed: 7,
    stack: "local",
    expect: "pass",
    verdict: "pass",
    as_expected: true,
    reasons: [],
    run_id: "exfil-under-broker-loss-20261122t120000z",
    started_at: new Date(T0 - 30_000).toISOString(),
    ended_at: new Date(T0 + 300_000).toISOString(),
    completeness: {
      verdict: "pass",
      attempted: 1_200_000,
      acked: 1_199_000,
      failed: 0,
      unknown: 1000,
      unknown_share: 1000 / 1_200_000,
      in_topic: 1_199_500,
      found: 1_199_500,
      lost: 0,
      duplicates: 0,
      duplicates_in_kafka: 0,
      duplicates_by_sink: 0,
      unexpected: 0,
      recovered: 500,
      dlq_expected: 0,
      dlq_found: 0,
      malformed_in_events: 0,
      valid_in_dlq: 0,
      altered: 0,
      not_an_event: 0,
      misplaced: 0,
      unreadable: 0,
      corrupt_objects: 0,
      objects: { events: 1440, dlq: 0 },
      foreign_objects: [],
      gaps: [],
      overlaps: [],
      overlap_offsets: 0,
      samples: {},
      lost_before_kafka: 0,
      lost_by_sink: 0,
      lost_sample: {},
      reasons: [],
    },
    alerts: {
      verdict: "pass",
      incidents: 2,
      alerts: 2,
      deliveries: 3,
      matched: 2,
      missed: 0,
      duplicated: 0,
      false_positives: 0,
      unsigned: 0,
      malformed: 0,
      conflicting: 0,
      latency_ms_p50: 5200,
      latency_ms_p99: 6100,
      detect_ms_p50: 14_000,
      detect_ms_p99: 15_500,
      missed_incidents: [],
      duplicated_incidents: [],
      false_positive_alerts: [],
      unsigned_deliveries: [],
      malformed_deliveries: [],
      conflicting_alerts: [],
      reasons: [],
    },
    faults: [{
      kind: "kill",
      target: "broker:leader-of-incident(0)",
      source: "timeline",
      nodes: ["kafka-2"],
      injected_at: T0 + 30_000,
      healed_at: T0 + 60_000,
      observed: true,
      detail: { leader_was: 2, partition: 4 },
    }],
    probes: {
      verdict: "pass",
      probes: [{
        name: "p95 produce latency under 2 s",
        metric: "p95_send_ms",
        phase: "during",
        verdict: "pass",
        measured: 1800,
        expected: "<= 2000",
        samples: 30,
      }],
      reasons: [],
    },
    recovery: {
      verdict: "pass",
      faults: [{
        fault: "kill broker:leader-of-incident(0)",
        verdict: "pass",
        baseline_eps: 10_000,
        min_eps: 2000,
        recovered_ms: 13_000,
        after_heal_ms: 0,
        lag_back_ms: 0,
      }],
      reasons: [],
    },
    throughput: { acked_eps: 9990 },
    workload: { started_at: T0, ended_at: T0 + 120_000 },
    settings: {
      min_acked: 600_000,
      max_duplicates: 0,
      max_unknown_share: 0.1,
      alerts: true,
      probes: [],
      target_eps: 10_000,
      recovery_within_ms: 30_000,
    },
    audit: { records: 1_199_500, took_ms: 9000 },
  };
}

const incidents = [
  {
    id: "inc-0",
    kind: "exfil" as const,
    entity: "10.64.0.7",
    start_ms: T0 + 15_000,
    end_ms: T0 + 45_000,
    events: 300,
    scheduled: true,
  },
  {
    id: "inc-1",
    kind: "exfil" as const,
    entity: "10.64.0.9",
    start_ms: T0 + 25_000,
    end_ms: T0 + 45_000,
    events: 200,
    scheduled: true,
  },
];
const alerts = incidents.map((i, n) => ({
  alert_id: `a${n}`,
  rule: "exfil" as const,
  entity: i.entity,
  window_start_ms: i.start_ms - 10_000,
  window_end_ms: i.start_ms + 50_000,
  value: 6e7,
  threshold: 5e7,
  fired_at_ms: i.start_ms + 56_000,
}));

export function passRun(): ReportData {
  return { results: base(), samples: samples(), incidents, alerts };
}

export function failRun(): ReportData {
  const r = base();
  r.verdict = "fail";
  r.as_expected = false;
  r.completeness = {
    ...r.completeness!,
    verdict: "fail",
    found: 1_198_000,
    lost: 1000,
    lost_before_kafka: 0,
    lost_by_sink: 1000,
    lost_sample: { "run-w0": [5000, 5001, 5002], "run-w3": [77] },
  };
  r.reasons = [
    "1000 acknowledged events are not in the store (0 never reached the topic, 1000 lost by the sink)",
  ];
  return { results: r, samples: samples(), incidents, alerts: alerts.slice(0, 1) };
}

export function unknownRun(): ReportData {
  const r = base();
  r.verdict = "unknown";
  r.completeness = null;
  r.alerts = null;
  r.probes = null;
  r.recovery = null;
  r.faults[0].observed = false;
  r.faults[0].injected_at = null;
  r.faults[0].healed_at = null;
  r.workload = { started_at: null, ended_at: null };
  r.reasons = ["the run failed: Cannot start broker 2: port 29712 is in use"];
  return { results: r, samples: [], incidents: [], alerts: [] };
}
