/**
 * The `add_partitions` fault: adds `count` partitions to the topic mid-run
 * (kafkajs admin `createPartitions`), then waits until every consumer group
 * of `groups` (default the pipeline's: the sink's and the detector's) has
 * every partition assigned, new ones included. A consumer sees new partitions
 * only when it refreshes its metadata (kafkajs: `metadataMaxAge`, 5 min by
 * default; the harness's sink and detector ask every 5 s) and then rejoins its
 * group, which drops what it had open and fetches again from the committed
 * offsets: the run proves that rebalance loses nothing.
 *
 * Evidence: the partition count before and after, the new partitions with
 * their leaders, how long after the inject each group had them all
 * (`taken_after_ms`), and the records on the new partitions by then
 * (`records_on_new`, their end offsets). A group that does not take them within
 * `taken_within_ms` makes the fault fail (the run is `unknown`, saying which
 * group and which partitions): the partitions exist but nobody consumes them.
 * One-shot: Kafka cannot remove partitions, so nothing can be healed; a run's
 * own topic goes with its stack.
 *
 * The harness's generator re-reads the topic's partition count every 5 s
 * (pipeline/generator_partitions.ts) and then hashes keys over the new count,
 * so some keys move to the new partitions, as a real producer's do; the checks
 * handle it (every check is per partition, over the partitions the audit finds
 * at the end; order is checked per producer session within a partition).
 * @module
 */

import { type Admin, AssignerProtocol } from "kafkajs";
import { z } from "zod";
import { sleep } from "../../lib/wait.ts";
import { DETECTOR_GROUP, SINK_GROUP } from "../run_names.ts";
import { partitionStates, withAdmin, WORKLOAD_TOPIC } from "./kafka_admin.ts";
import { millis } from "./params.ts";
import { BOTH_STACKS, defineFault } from "./types.ts";

/** What one consumer group has assigned of a topic, from its members' assignments. */
export interface GroupAssignment {
  state: string;
  partitions: number[];
}

/**
 * The partitions of `all` that `assigned` lacks (pure): empty when the group took every one.
 */
export function untaken(all: readonly number[], assigned: readonly number[]): number[] {
  const have = new Set(assigned);
  return all.filter((p) => !have.has(p));
}

/** The partitions of `topic` assigned to the members of `group` now. */
export async function groupAssignment(
  admin: Admin,
  group: string,
  topic: string,
): Promise<GroupAssignment> {
  const { groups } = await admin.describeGroups([group]);
  const g = groups[0];
  const partitions = new Set<number>();
  for (const m of g?.members ?? []) {
    if (!m.memberAssignment?.length) continue;
    const decoded = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
    for (const p of decoded?.assignment[topic] ?? []) partitions.add(p);
  }
  return { state: g?.state ?? "Dead", partitions: [...partitions].sort((a, b) => a - b) };
}

export const addPartitions = defineFault({
  kind: "add_partitions",
  summary:
    "adds `count` partitions to the topic (kafkajs createPartitions) and waits (up to taken_within_ms) until the pipeline's consumer groups took them; observed: partitions before and after, when each group had them all, or not_taken; one-shot (Kafka cannot remove partitions)",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  oneShot: true,
  params: z.strictObject({
    count: z.number().int().min(1).max(64).default(3).describe("how many partitions to add"),
    topic: z.string().min(1).default(WORKLOAD_TOPIC).describe("the topic that grows"),
    groups: z.array(z.string().min(1)).default([SINK_GROUP, DETECTOR_GROUP]).describe(
      "the consumer groups that must take the new partitions ([]: none waited for)",
    ),
    taken_within_ms: millis(600_000).min(1000).default(60_000).describe(
      "how long to wait for the groups to have every partition assigned (a group that has not by then is recorded in not_taken)",
    ),
  }),
  async inject(ctx, _nodes, params) {
    return await withAdmin(ctx, "chaos-add-partitions", async (admin) => {
      const before = await partitionStates(admin, params.topic);
      const total = before.length + params.count;
      const t0 = performance.now();
      await admin.createPartitions({
        topicPartitions: [{ topic: params.topic, count: total }],
        timeout: 30_000,
      });
      // Until every partition, new ones included, has a leader.
      let after = before;
      while (performance.now() - t0 < params.taken_within_ms) {
        after = await partitionStates(admin, params.topic).catch(() => after);
        if (after.length >= total && after.every((p) => p.leader >= 0)) break;
        await sleep(250);
      }
      if (after.length < total) {
        throw new Error(
          `${params.topic} has ${after.length} partitions after adding ${params.count} to ` +
            `${before.length}`,
        );
      }
      const all = after.map((p) => p.partition);
      const fresh = after.filter((p) => p.partition >= before.length);
      const taken: Record<string, number> = {};
      let missing: Record<string, number[]> = {};
      for (;;) {
        missing = {};
        for (const group of params.groups.filter((g) => !(g in taken))) {
          const a = await groupAssignment(admin, group, params.topic).catch(() => undefined);
          const lacks = a ? untaken(all, a.partitions) : all;
          if (a?.state === "Stable" && lacks.length === 0) {
            taken[group] = Math.round(performance.now() - t0);
          } else missing[group] = lacks;
        }
        if (Object.keys(missing).length === 0) break;
        // The fault happened once the partitions have leaders: whether a pipeline takes them is
        // its own behaviour, recorded (`not_taken`), never the fault's failure (a submission
        // that ignored them would otherwise turn its grade into "proved nothing").
        if (performance.now() - t0 > params.taken_within_ms) break;
        await sleep(500);
      }
      // Records on the new partitions by now (their end offsets): the producers moved keys there.
      const onNew = await admin.fetchTopicOffsets(params.topic).then(
        (offsets) =>
          Object.fromEntries(
            offsets.filter((o) => o.partition >= before.length)
              .map((o) => [String(o.partition), Number(o.high)]),
          ),
        () => undefined,
      );
      return {
        observed: {
          topic: params.topic,
          partitions_before: before.length,
          partitions_after: after.length,
          added: Object.fromEntries(fresh.map((p) => [String(p.partition), p.leader])),
          taken_after_ms: taken,
          ...(onNew ? { records_on_new: onNew } : {}),
          ...(Object.keys(missing).length > 0 ? { not_taken: missing } : {}),
        },
        heal: () => Promise.resolve({}),
      };
    });
  },
});
