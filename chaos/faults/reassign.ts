/**
 * The `reassign` fault: moves partitions' replicas while the workload
 * produces, with Kafka's own `ReassignPartitionsCommand`
 * (`kafka-reassign-partitions.sh --execute`; kafkajs has no reassignment
 * API). What moves is planned from the topic's replica lists as the metadata
 * has them (`planReassignment`, pure):
 *
 * - `shift` (default): every replica moves to the next broker of the ring
 *   (1→2, 2→3, …, n→1): with fewer replicas than brokers, every partition
 *   gets a replica on a broker that had none and its data is copied there;
 *   with as many, only the order (the preferred leader) changes.
 * - `reorder`: every partition's list is rotated by one ([1,2,3] → [2,3,1]):
 *   the preferred leader moves, no data does.
 * - `evacuate`: the replicas on the target broker(s) move to the other
 *   brokers, the least loaded first (needs more brokers than replicas).
 *
 * The inject waits until the reassignment completed (every partition's
 * replica list is the planned one and all of it in sync: nothing left
 * reassigning) within `complete_within_ms`; past it, the reassignment is
 * cancelled (`--cancel`) and the fault fails (the run is `unknown`). One-shot:
 * the reassignment is over when the inject returns, so nothing is left to heal
 * (a run that ends meanwhile tears its stack down with it). Evidence: the
 * replica lists before, planned and after, and how long it took.
 * @module
 */

import type { Admin } from "kafkajs";
import { z } from "zod";
import { sleep } from "../../lib/wait.ts";
import { brokerIdOf } from "../../compose/stack.ts";
import {
  kafkaTool,
  KafkaToolError,
  type PartitionState,
  partitionStates,
  replicaTable,
  toolSaid,
  withAdmin,
  WORKLOAD_TOPIC,
} from "./kafka_admin.ts";
import { millis } from "./params.ts";
import { BOTH_STACKS, defineFault, type FaultContext } from "./types.ts";

export const REASSIGN_MODES = ["shift", "reorder", "evacuate"] as const;
export type ReassignMode = typeof REASSIGN_MODES[number];

const TOOL = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";

/** A reassignment that cannot be planned (no broker left to take a replica, nothing to move). */
export class ReassignPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReassignPlanError";
  }
}

/** Replica lists by partition: what a reassignment asks for. */
export type ReplicaPlan = Map<number, number[]>;

/**
 * The new replica lists of the partitions that change, by partition (pure). `brokers`: the
 * cluster's broker ids; `evacuate`: the brokers whose replicas move (mode `evacuate` only).
 */
export function planReassignment(
  mode: ReassignMode,
  current: readonly Pick<PartitionState, "partition" | "replicas">[],
  options: { brokers: readonly number[]; evacuate?: readonly number[] },
): ReplicaPlan {
  const brokers = [...options.brokers].sort((a, b) => a - b);
  const plan: ReplicaPlan = new Map();
  const load = new Map(brokers.map((b) => [b, 0]));
  for (const p of current) for (const r of p.replicas) load.set(r, (load.get(r) ?? 0) + 1);
  const away = new Set(options.evacuate ?? []);
  if (mode === "evacuate" && away.size === 0) {
    throw new ReassignPlanError("evacuate needs the broker(s) to move replicas off (the target)");
  }
  for (const p of current) {
    let next: number[];
    if (mode === "shift") {
      next = p.replicas.map((r) => {
        const i = brokers.indexOf(r);
        return i < 0 ? r : brokers[(i + 1) % brokers.length];
      });
    } else if (mode === "reorder") {
      next = [...p.replicas.slice(1), ...p.replicas.slice(0, 1)];
    } else {
      next = [...p.replicas];
      for (const [i, r] of next.entries()) {
        if (!away.has(r)) continue;
        const free = brokers.filter((b) => !away.has(b) && !next.includes(b));
        if (free.length === 0) {
          throw new ReassignPlanError(
            `partition ${p.partition}: no broker left to take broker ${r}'s replica (replicas ` +
              `[${p.replicas}], brokers [${brokers}]): evacuate needs more brokers than replicas`,
          );
        }
        const to = free.reduce((a, b) => (load.get(b)! < load.get(a)! ? b : a));
        load.set(to, load.get(to)! + 1);
        load.set(r, load.get(r)! - 1);
        next[i] = to;
      }
    }
    if (next.join() !== p.replicas.join()) plan.set(p.partition, next);
  }
  if (plan.size === 0) {
    throw new ReassignPlanError(
      `${mode} moves no replica of ${current.length} partitions (replicas ${
        JSON.stringify(current.map((p) => p.replicas))
      }, brokers [${brokers}])`,
    );
  }
  return plan;
}

/** The reassignment file of `plan` for `topic` (`--reassignment-json-file`). */
export function reassignmentJson(topic: string, plan: ReplicaPlan): string {
  return JSON.stringify({
    version: 1,
    partitions: [...plan].map(([partition, replicas]) => ({ topic, partition, replicas })),
  });
}

/**
 * The partitions of `plan` still reassigning in `states` (pure): a replica list that is not yet
 * the planned one (while moving, it is the union of old and new), or planned replicas not all
 * in sync.
 */
export function stillMoving(states: readonly PartitionState[], plan: ReplicaPlan): number[] {
  const byId = new Map(states.map((s) => [s.partition, s]));
  return [...plan].filter(([p, target]) => {
    const s = byId.get(p);
    return !s || s.replicas.join() !== target.join() || !target.every((r) => s.isr.includes(r));
  }).map(([p]) => p);
}

/** What a completed reassignment left: the partitions after it, how long it took. */
export interface Reassigned {
  after: PartitionState[];
  tookMs: number;
  /** Some partition was seen mid-move (its new replicas being added). */
  seenMoving: boolean;
}

/**
 * Executes `plan` on `topic` with Kafka's tool and waits until nothing is left reassigning;
 * past `withinMs` it is cancelled and this throws.
 */
export async function runReassignment(
  ctx: FaultContext,
  admin: Admin,
  o: { topic: string; plan: ReplicaPlan; withinMs: number },
): Promise<Reassigned> {
  const file = await Deno.makeTempFile({ prefix: "chaos-reassign-", suffix: ".json" });
  try {
    await Deno.writeTextFile(file, reassignmentJson(o.topic, o.plan));
    const args = [
      "--bootstrap-server",
      ctx.stack.endpoints.kafka.bootstrap,
      "--reassignment-json-file",
      file,
    ];
    const t0 = performance.now();
    const run = await kafkaTool(ctx.binaries, TOOL, [...args, "--execute"]);
    if (run.code !== 0) throw new KafkaToolError("ReassignPartitionsCommand --execute", run);
    let after: PartitionState[] = [];
    let moving = [...o.plan.keys()];
    let seenMoving = false;
    while (performance.now() - t0 < o.withinMs) {
      after = await partitionStates(admin, o.topic).catch(() => after);
      moving = stillMoving(after, o.plan);
      if (moving.length === 0) break;
      // A list longer than planned: the new replicas are being added (caught mid-move).
      seenMoving ||= after.some((s) => s.replicas.length > (o.plan.get(s.partition)?.length ?? 0));
      await sleep(500);
    }
    if (moving.length > 0) {
      const cancel = await kafkaTool(ctx.binaries, TOOL, [...args, "--cancel"]);
      throw new Error(
        `the reassignment of ${o.plan.size} partitions of ${o.topic} did not complete within ` +
          `${o.withinMs} ms: partitions ${moving.join(", ")} still moving; cancelled ` +
          `(exit ${cancel.code}: ${toolSaid(cancel.out, 2)})`,
      );
    }
    return { after, tookMs: Math.round(performance.now() - t0), seenMoving };
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

export const reassign = defineFault({
  kind: "reassign",
  summary:
    "moves partitions' replicas under load with Kafka's ReassignPartitionsCommand (`mode`: shift every replica to the next broker, reorder each list, or evacuate the target broker); observed: replica lists before and after, completed within `complete_within_ms` (else cancelled: no effect); one-shot",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  oneShot: true,
  params: z.strictObject({
    mode: z.enum(REASSIGN_MODES).default("shift").describe(
      "shift: every replica to the next broker of the ring; reorder: each list rotated by one " +
        "(the preferred leader moves, no data); evacuate: the target broker's replicas to others",
    ),
    topic: z.string().min(1).default(WORKLOAD_TOPIC).describe("the topic whose partitions move"),
    complete_within_ms: millis(600_000).min(1000).default(120_000).describe(
      "how long the reassignment may take before it is cancelled (the fault then has no effect)",
    ),
  }),
  async inject(ctx, nodes, params) {
    return await withAdmin(ctx, "chaos-reassign", async (admin) => {
      const before = await partitionStates(admin, params.topic);
      const evacuate = params.mode === "evacuate"
        ? nodes.filter((n) => n.startsWith("kafka-")).map(brokerIdOf)
        : undefined;
      const plan = planReassignment(params.mode, before, {
        brokers: ctx.stack.brokerIds(),
        evacuate,
      });
      const done = await runReassignment(ctx, admin, {
        topic: params.topic,
        plan,
        withinMs: params.complete_within_ms,
      });
      return {
        observed: {
          topic: params.topic,
          mode: params.mode,
          ...(evacuate ? { evacuated: evacuate } : {}),
          moved: plan.size,
          before: replicaTable(before),
          planned: Object.fromEntries([...plan].map(([p, r]) => [String(p), r])),
          after: replicaTable(done.after),
          seen_moving: done.seenMoving,
          completed_after_ms: done.tookMs,
        },
        heal: () => Promise.resolve({}),
      };
    });
  },
});
