/**
 * Scenario files: `scenarios/<name>.ts` exports `default defineScenario({...})`.
 * Validated strictly before anything starts: unknown keys are errors and every
 * problem is reported at once with the path of its key (exit code 2). A fault's
 * params are parsed by its kind's own schema (`params` in its module); the
 * parsed scenario holds them parsed, defaults applied.
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
import { parseStrict } from "../lib/parse_strict.ts";
import { INCIDENT_KINDS } from "../pipeline/anomalies.ts";
import { parseDuration } from "../lib/duration.ts";
import { KAFKA_CLIENTS } from "../pipeline/producer_client.ts";
import { FAULTS, type FaultTable, targetKind } from "./faults/mod.ts";
import type { Fault, RawParams } from "./faults/types.ts";
import { PROBE_METRICS, PROBE_PHASES, PROBE_STATS } from "../validate/probes.ts";

const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'must be a duration like "90s", "2m" or "1500ms"',
});
const prob = z.number().min(0).max(1);

/** A fault's params before its kind is known: any keys; the kind's schema parses them. */
const AnyParams = z.record(z.string(), z.unknown());

const TARGET_PATTERN =
  /^(broker:(leader\([\w.-]+,\d+\)|leader-of-incident\(\d+\)|controller|random|\d+)|link:\d+-\d+|sink|detector|redis|minio|webhook|all-brokers)$/;

const TARGET_MESSAGE =
  "must be broker:<id>, broker:leader(<topic>,<partition>), broker:leader-of-incident(<n>), broker:controller, broker:random, all-brokers, sink, detector, redis, minio or webhook";
const target = z.string().regex(TARGET_PATTERN, { message: TARGET_MESSAGE });

/** A steady-state probe, evaluated over the run's per-second samples in one phase. */
const Probe = z.strictObject({
  name: z.string().min(1).optional(),
  metric: z.enum(PROBE_METRICS),
  /** Statistic over the phase's samples. Default "mean". */
  stat: z.enum(PROBE_STATS).default("mean"),
  op: z.enum([">=", "<="]),
  value: z.number(),
  phase: z.enum(PROBE_PHASES),
  /** Reported, never part of the verdict (e.g. a rate the machine may not reach). */
  advisory: z.boolean().optional(),
  /** Checked every second while the run goes on; when it does not hold, the run stops (fail). */
  abort: z.boolean().optional(),
  /** Seconds the phase must have lasted before an abort probe is checked live (default 5). */
  grace_s: z.number().min(0).max(3600).optional(),
}).refine((p) => !(p.abort && p.advisory), {
  message: "a probe cannot be both advisory and abort (an advisory probe never fails the run)",
});

/**
 * The scenario schema over a table of faults (default the harness's, mod.ts):
 * fault kinds, their targets and params are checked against the table.
 */
export function scenarioSchema(table: FaultTable = FAULTS) {
  const Fault = z.strictObject({
    at: duration,
    kind: kindOf(table),
    target,
    heal_after: duration.optional(),
    /** Parsed by the kind's own schema (see the fault table). */
    params: AnyParams.optional(),
  });

  /** Seeded random chaos, as teams do with chaos scripts: every `every`, one action on one target. */
  const Chaos = z.strictObject({
    start: duration.default("20s"),
    /** Default: the end of the workload. */
    end: duration.optional(),
    every: duration,
    /** How long each fault lasts; at most `every`, so random faults do not overlap. */
    duration,
    targets: z.array(target).min(1),
    actions: z.array(kindOf(table)).min(1),
    /** Shared by the actions: each reads the keys its schema knows; every key must be read. */
    params: AnyParams.default({}),
  });

  return z.strictObject({
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
      /** The generator's Kafka client; default `$KAFKA_CLIENT`, else lean (DEFAULT_KAFKA_CLIENT). */
      kafka_client: z.enum(KAFKA_CLIENTS).optional(),
      /**
       * Kafka fsyncs a partition's log every this many appended messages
       * (`log.flush.interval.messages`; 1: every append). Default: Kafka's (never: the OS does).
       */
      flush_messages: z.number().int().min(1).optional(),
      /**
       * The brokers' and MinIO's data on lazy disks (compose/lazy_disks.ts) even without a fault
       * that needs them (power_loss, io_latency, io_error do): to measure the layer's cost.
       */
      lazy_disks: z.boolean().default(false),
      broker_overrides: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
        .default(
          {},
        ),
    }).prefault({}),
    workload: z.strictObject({
      eps: z.number().int().min(1).max(1_000_000),
      duration,
      workers: z.number().int().min(1).max(64).default(4),
      /**
       * Generator processes sharing the rate (1: the harness's own generator only; more: that
       * one and N-1 processes of `deno task generate`, each with its own worker offset).
       */
      processes: z.number().int().min(1).max(16).default(1),
      chaos_mode: z.boolean().default(false),
      malformed_prob: prob.default(0.001),
      incidents: z.array(z.strictObject({
        at: duration,
        kind: z.enum(INCIDENT_KINDS),
        duration: duration.default("20s"),
        entity: z.ipv4().optional(),
      })).default([]),
    }),
    /**
     * The harness's webhook receiver misbehaving for the whole run, as the contract says it may
     * (no fault needed): a seeded share of deliveries answered 503, another share answered
     * `slow_ms` late (still 200). Default: it always answers 200 at once.
     */
    webhook: z.strictObject({
      error_share: z.number().min(0).max(0.9, {
        message: "must be at most 0.9: a webhook that refuses everything takes no alert",
      }).default(0),
      slow_share: prob.default(0),
      slow_ms: z.number().int().min(0).max(30_000).default(1500),
    }).prefault({}).refine((w) => w.error_share + w.slow_share <= 1, {
      message: "error_share + slow_share is more than 1",
      path: ["slow_share"],
    }),
    detector: z.strictObject({
      window: duration.default("60s"),
      slide: duration.default("10s"),
      out_of_order: duration.default("5s"),
    }).prefault({}),
    faults: z.array(Fault).default([]),
    chaos: Chaos.optional(),
    probes: z.array(Probe).default([]),
    /**
     * The rollback after the method (Chaos Toolkit's): every fault is healed in reverse order
     * whatever happens; then dead components and services are started again (`restart_dead`),
     * and the stack must be healthy again within `healthy_within`, or the run is unknown.
     */
    rollback: z.strictObject({
      restart_dead: z.boolean().default(true),
      healthy_within: duration.default("90s"),
    }).prefault({}),
    checks: z.strictObject({
      /** Fewer acknowledged events: the run is vacuous (unknown). Default: half the planned events. */
      min_acked: z.number().int().min(0).optional(),
      max_duplicates: z.number().int().min(0).default(0),
      /**
       * Records reordered within a partition and producer session (validate/order.ts) are
       * reported, not failed: for workloads with idempotence off, whose retries may reorder
       * (`stack.idempotent: false` allows it by itself).
       */
      allow_reorder: z.boolean().default(false),
      /**
       * A larger share of sends whose outcome is unknown (timed out: maybe appended) leaves too
       * little proven: the run is unknown. Default 0.1.
       */
      max_unknown_share: z.number().min(0).max(1).optional(),
      alerts: z.boolean().default(true),
      /** Time allowed after the generator stops for the sink and detector to catch up. */
      settle: duration.default("120s"),
      /**
       * Hypothesis: after each fault is injected, acknowledged events/s are back at 90% of the
       * pre-fault rate within this long (reported always; a failed check only when set).
       */
      recovery_within: duration.optional(),
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
      if (!table[f.kind]) return; // an unknown kind, reported by its key
      if ((parseDuration(f.at) ?? 0) > total) {
        ctx.addIssue({
          code: "custom",
          path: ["faults", i, "at"],
          message: `is after the workload ends (${s.workload.duration})`,
        });
      }
      checkTarget(s, f.target, ["faults", i, "target"], ctx);
      if (!fits(f.kind, f.target, table)) {
        ctx.addIssue({
          code: "custom",
          path: ["faults", i, "kind"],
          message: `${f.kind} cannot act on ${f.target} (it acts on: ${
            table[f.kind].targets.join(", ")
          })`,
        });
      }
      for (const problem of paramProblems(table[f.kind], f.params ?? {})) {
        ctx.addIssue({
          code: "custom",
          ...problem,
          path: ["faults", i, "params", ...problem.path],
        });
      }
    });
    if (s.chaos) {
      const c = s.chaos;
      const start = parseDuration(c.start) ?? 0;
      const end = c.end === undefined ? total : parseDuration(c.end) ?? 0;
      if (end > total) {
        ctx.addIssue({
          code: "custom",
          path: ["chaos", "end"],
          message: "is after the workload ends",
        });
      }
      if (start >= end) {
        ctx.addIssue({
          code: "custom",
          path: ["chaos", "start"],
          message: "is not before the end",
        });
      }
      if ((parseDuration(c.duration) ?? 0) > (parseDuration(c.every) ?? 0)) {
        ctx.addIssue({
          code: "custom",
          path: ["chaos", "duration"],
          message: `is longer than every (${c.every}): random faults would overlap`,
        });
      }
      c.targets.forEach((t, i) => checkTarget(s, t, ["chaos", "targets", i], ctx));
      c.actions.forEach((kind, i) => {
        if (!table[kind]) return;
        if (!c.targets.some((t) => fits(kind, t, table))) {
          ctx.addIssue({
            code: "custom",
            path: ["chaos", "actions", i],
            message: `${kind} cannot act on any of the targets (it acts on: ${
              table[kind].targets.join(", ")
            })`,
          });
        }
      });
      // Each action parses the keys it reads; one problem said once (actions may share a key).
      const said = new Set<string>();
      for (const kind of new Set(c.actions)) {
        if (!table[kind]) continue;
        for (const problem of paramProblems(table[kind], readBy(table[kind], c.params))) {
          const path = ["chaos", "params", ...problem.path];
          const key = `${path.join(".")}: ${problem.message}`;
          if (said.has(key)) continue;
          said.add(key);
          ctx.addIssue({ code: "custom", ...problem, path });
        }
      }
      for (const key of strayParams(c.actions.map((k) => table[k]).filter(Boolean), c.params)) {
        ctx.addIssue({
          code: "custom",
          path: ["chaos", "params", key],
          message: `is not a param of any of the actions (${c.actions.join(", ")})`,
        });
      }
    }
  }).transform((s) => ({
    ...s,
    // What the planner and the faults get: the params as each kind's schema parsed them.
    faults: s.faults.map((f) => ({ ...f, params: table[f.kind].params.parse(f.params ?? {}) })),
  }));
}

const ScenarioSchema = scenarioSchema();

/** Whether fault `kind` can act on `target`. */
export function fits(kind: string, target: string, table: FaultTable = FAULTS): boolean {
  return (table[kind]?.targets as readonly string[] | undefined ?? []).includes(targetKind(target));
}

/** A problem of a fault's params: its path below `params`, and what is wrong. */
export interface ParamProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * What is wrong with `params` for `fault`, by its schema: a key it does not read ("is not a
 * param of latency (it reads: ...)"), a required one missing ("is required for latency"), a
 * value out of bounds (zod's message), each with its path below `params`.
 */
export function paramProblems(fault: Fault, params: RawParams): ParamProblem[] {
  const result = fault.params.safeParse(params);
  if (result.success) return [];
  const reads = Object.keys(fault.params.shape).join(", ") || "none";
  return result.error.issues.flatMap((issue): ParamProblem[] => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        path: [...issue.path, key],
        message: `is not a param of ${fault.kind} (it reads: ${reads})`,
      }));
    }
    const [key] = issue.path;
    if (
      issue.code === "invalid_type" && issue.path.length === 1 &&
      params[String(key)] === undefined
    ) {
      return [{ path: issue.path, message: `is required for ${fault.kind}` }];
    }
    return [{ path: issue.path, message: issue.message }];
  });
}

/** The keys of a shared params bag (the chaos block's) that `fault`'s schema reads. */
function readBy(fault: Fault, params: RawParams): RawParams {
  return Object.fromEntries(
    Object.entries(params).filter(([k]) => Object.hasOwn(fault.params.shape, k)),
  );
}

/** What `fault` gets of a shared params bag (the chaos block's): its keys, parsed by its schema. */
export function paramsFor(fault: Fault, params: RawParams): RawParams {
  return fault.params.parse(readBy(fault, params));
}

/** The params given that none of `faults` reads. */
function strayParams(faults: readonly Fault[], params: RawParams): string[] {
  return Object.keys(params).filter((key) =>
    !faults.some((f) => Object.hasOwn(f.params.shape, key))
  );
}

/** A fault kind of `table`. */
function kindOf(table: FaultTable) {
  const kinds = Object.keys(table);
  return z.string().refine((k) => Object.hasOwn(table, k), {
    message: `must be one of: ${kinds.join(", ")}`,
  });
}

function checkTarget(
  s: { stack: { brokers: number }; workload: { incidents: unknown[] } },
  target: string,
  path: (string | number)[],
  ctx: z.RefinementCtx,
) {
  const link = target.match(/^link:(\d+)-(\d+)$/);
  if (link) {
    const [a, b] = [Number(link[1]), Number(link[2])];
    const bad = [a, b].filter((id) => id < 1 || id > s.stack.brokers);
    if (bad.length > 0 || a === b) {
      ctx.addIssue({
        code: "custom",
        path,
        message: a === b
          ? `${target}: a link joins two different brokers`
          : `${target}: names broker ${bad[0]}, the stack has 1..${s.stack.brokers}`,
      });
    }
    return;
  }
  const m = target.match(/^broker:(\d+)$/);
  if (m && (Number(m[1]) < 1 || Number(m[1]) > s.stack.brokers)) {
    ctx.addIssue({
      code: "custom",
      path,
      message: `names broker ${m[1]}, the stack has 1..${s.stack.brokers}`,
    });
  }
  const inc = target.match(/^broker:leader-of-incident\((\d+)\)$/);
  if (inc && Number(inc[1]) >= s.workload.incidents.length) {
    ctx.addIssue({
      code: "custom",
      path,
      message: `names incident ${inc[1]}, there are ${s.workload.incidents.length}`,
    });
  }
}

export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioFault = Scenario["faults"][number];

/** Marks a scenario file's export; validation happens when it is loaded. */
export function defineScenario(scenario: ScenarioInput): ScenarioInput {
  return scenario;
}

/** Validates a scenario; every problem at once, as a UsageError naming the keys. */
export { parseStrict };

export function validateScenario(input: unknown, source = "scenario"): Scenario {
  return parseStrict(ScenarioSchema, input, source);
}

/** Milliseconds of a validated duration string. */
export function ms(text: string): number {
  return parseDuration(text)!;
}
