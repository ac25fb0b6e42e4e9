/**
 * Scenario files: `scenarios/<name>.ts` exports `default defineScenario({...})`.
 * Validated strictly before anything starts: unknown keys are errors and every
 * problem is reported at once with the path of its key (exit code 2).
 *
 * ```ts
 * import { defineScenario } from "../chaos/scenario.ts";
 * export default defineScenario({
 *   name: "steady-state",
 *   description: "no fault: the pipeline loses nothing and alerts once per incident",
 *   seed: 1,
 *   workload: { eps: 10000, duration: "90s", incidents: [{ at: "10s", kind: "exfil", duration: "20s" }] },
 *   faults: [],
 * });
 * ```
 * @module
 */

import { z } from "zod";
import { UsageError } from "./exit_codes.ts";
import { INCIDENT_KINDS } from "../pipeline/anomalies.ts";
import { parseDuration } from "../pipeline/knobs.ts";
import { FAULT_KINDS, FAULTS, targetKind } from "./faults/mod.ts";

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'must be a duration like "90s", "2m" or "1500ms"',
});
const prob = z.number().min(0).max(1);

export const TARGET_PATTERN =
  /^(broker:(leader\([\w.-]+,\d+\)|leader-of-incident\(\d+\)|controller|random|\d+)|sink|detector|redis|minio|webhook|all-brokers)$/;

const Fault = z.strictObject({
  at: duration,
  kind: z.enum(FAULT_KINDS),
  target: z.string().regex(TARGET_PATTERN, {
    message:
      "must be broker:<id>, broker:leader(<topic>,<partition>), broker:leader-of-incident(<n>), broker:controller, broker:random, all-brokers, sink, detector, redis, minio or webhook",
  }),
  heal_after: duration.optional(),
  params: z.strictObject({
    latency_ms: z.number().int().min(0).max(60_000).optional(),
    jitter_ms: z.number().int().min(0).max(60_000).optional(),
    status: z.number().int().min(100).max(599).optional(),
  }).optional(),
});

export const ScenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, {
    message: "must be lower-case words with dashes",
  }),
  description: z.string().min(1),
  seed: z.number().int().min(0),
  /** A negative control: the suite counts it as passing only when the verdict is fail. */
  expect: z.enum(["pass", "fail"]).default("pass"),
  stack: z.strictObject({
    brokers: z.number().int().min(1).max(9).default(3),
    partitions: z.number().int().min(1).max(64).default(6),
    replication_factor: z.number().int().min(1).max(9).default(3),
    min_insync_replicas: z.number().int().min(1).max(9).default(2),
    unclean_leader_election: z.boolean().default(false),
    acks: z.enum(["all", "1", "0"]).default("all"),
    idempotent: z.boolean().default(true),
    /** How the generator calls kafkajs; "batch" exposes kafkajs issue #1303 (see generator.ts). */
    send_mode: z.enum(["per-partition", "batch"]).default("per-partition"),
    broker_overrides: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default(
      {},
    ),
  }).prefault({}),
  workload: z.strictObject({
    eps: z.number().int().min(1).max(1_000_000),
    duration,
    workers: z.number().int().min(1).max(64).default(4),
    chaos_mode: z.boolean().default(false),
    malformed_prob: prob.default(0.001),
    incidents: z.array(z.strictObject({
      at: duration,
      kind: z.enum(INCIDENT_KINDS),
      duration: duration.default("20s"),
      entity: z.ipv4().optional(),
    })).default([]),
  }),
  detector: z.strictObject({
    window: duration.default("60s"),
    slide: duration.default("10s"),
    out_of_order: duration.default("5s"),
  }).prefault({}),
  faults: z.array(Fault).default([]),
  checks: z.strictObject({
    /** Fewer acknowledged events: the run is vacuous (unknown). Default: half the planned events. */
    min_acked: z.number().int().min(0).optional(),
    max_duplicates: z.number().int().min(0).default(0),
    alerts: z.boolean().default(true),
    /** Time allowed after the generator stops for the sink and detector to catch up. */
    settle: duration.default("120s"),
  }).prefault({}),
}).superRefine((s, ctx) => {
  if (s.stack.replication_factor > s.stack.brokers) {
    ctx.addIssue({
      code: "custom",
      path: ["stack", "replication_factor"],
      message: `is more than the ${s.stack.brokers} brokers`,
    });
  }
  if (s.stack.min_insync_replicas > s.stack.replication_factor) {
    ctx.addIssue({
      code: "custom",
      path: ["stack", "min_insync_replicas"],
      message: "is more than the replication factor",
    });
  }
  if (s.stack.idempotent && s.stack.acks !== "all") {
    ctx.addIssue({ code: "custom", path: ["stack", "idempotent"], message: 'needs acks "all"' });
  }
  const total = parseDuration(s.workload.duration) ?? 0;
  s.workload.incidents.forEach((inc, i) => {
    const end = (parseDuration(inc.at) ?? 0) + (parseDuration(inc.duration) ?? 0);
    if (end > total) {
      ctx.addIssue({
        code: "custom",
        path: ["workload", "incidents", i, "at"],
        message: `ends at ${end} ms, after the workload (${total} ms)`,
      });
    }
  });
  s.faults.forEach((f, i) => {
    if ((parseDuration(f.at) ?? 0) > total) {
      ctx.addIssue({
        code: "custom",
        path: ["faults", i, "at"],
        message: `is after the workload ends (${s.workload.duration})`,
      });
    }
    const m = f.target.match(/^broker:(\d+)$/);
    if (m && (Number(m[1]) < 1 || Number(m[1]) > s.stack.brokers)) {
      ctx.addIssue({
        code: "custom",
        path: ["faults", i, "target"],
        message: `names broker ${m[1]}, the stack has 1..${s.stack.brokers}`,
      });
    }
    const inc = f.target.match(/^broker:leader-of-incident\((\d+)\)$/);
    if (inc && Number(inc[1]) >= s.workload.incidents.length) {
      ctx.addIssue({
        code: "custom",
        path: ["faults", i, "target"],
        message: `names incident ${inc[1]}, there are ${s.workload.incidents.length}`,
      });
    }
    const kind = targetKind(f.target);
    if (!(FAULTS[f.kind].targets as readonly string[]).includes(kind)) {
      ctx.addIssue({
        code: "custom",
        path: ["faults", i, "kind"],
        message: `${f.kind} cannot act on ${f.target} (it acts on: ${
          FAULTS[f.kind].targets.join(", ")
        })`,
      });
    }
    if (f.kind === "latency" && f.params?.latency_ms === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["faults", i, "params", "latency_ms"],
        message: "is required for latency",
      });
    }
  });
});

export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type Scenario = z.output<typeof ScenarioSchema>;

/** Marks a scenario file's export; validation happens when it is loaded. */
export function defineScenario(scenario: ScenarioInput): ScenarioInput {
  return scenario;
}

/** Validates a scenario; every problem at once, as a UsageError naming the keys. */
export function validateScenario(input: unknown, source = "scenario"): Scenario {
  const result = ScenarioSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join(".") : "(root)";
    const keys = issue.code === "unrecognized_keys" ? ` (${issue.keys.join(", ")})` : "";
    return `  ${path}: ${issue.message}${keys}`;
  });
  throw new UsageError(`${source} is invalid:\n${lines.join("\n")}`);
}

/** Milliseconds of a validated duration string. */
export function ms(text: string): number {
  return parseDuration(text)!;
}
