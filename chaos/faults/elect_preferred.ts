/**
 * The `elect_preferred` fault: a storm of preferred-leader elections, `count`
 * of them `interval_ms` apart, each with Kafka's own `LeaderElectionCommand`
 * (`kafka-leader-election.sh --election-type preferred
 * --all-topic-partitions`). An election moves a leader only where it is not
 * the preferred replica (the first of the list), so with `shuffle` (default)
 * each round first rotates every partition's replica list of the topic by one
 * (a reassignment that moves no data, reassign.ts's `reorder`): the preferred
 * replica is then another broker and the election moves every leader, under
 * load. Without `shuffle` only leaders already away from their preferred
 * replica (after an earlier fault) move.
 *
 * Evidence, from the metadata around each election: the leaders before and
 * after, and the partitions whose leader changed. A storm that moved no leader
 * at all had no effect: the fault fails (the run is `unknown`). One-shot: the
 * inject runs the whole storm; the leaders are left where the last election
 * put them (each on its partition's preferred replica).
 * @module
 */

import { z } from "zod";
import { sleep } from "../../lib/wait.ts";
import {
  kafkaTool,
  leaderChanges,
  leaderTable,
  partitionStates,
  toolSaid,
  withAdmin,
  WORKLOAD_TOPIC,
} from "./kafka_admin.ts";
import { millis } from "./params.ts";
import { planReassignment, runReassignment } from "./reassign.ts";
import { BOTH_STACKS, defineFault } from "./types.ts";

/** One election of the storm, as observed. */
export interface ElectionRound {
  round: number;
  /** The tool's exit code (1 when some partition needed no election: not an error). */
  exit: number;
  /** Partitions whose leader changed around this election (the shuffle's included). */
  moved: number;
  /** Leaders on their preferred replica after it, of the topic's partitions. */
  preferred: number;
  partitions: number;
}

/** The storm in a few figures (pure): rounds, leader changes, rounds that moved nothing. */
export function stormSummary(rounds: readonly ElectionRound[]): {
  elections: number;
  leader_changes: number;
  idle_rounds: number;
  failed_elections: number;
} {
  return {
    elections: rounds.length,
    leader_changes: rounds.reduce((s, r) => s + r.moved, 0),
    idle_rounds: rounds.filter((r) => r.moved === 0).length,
    failed_elections: rounds.filter((r) => r.exit !== 0 && r.exit !== 1).length,
  };
}

export const electPreferred = defineFault({
  kind: "elect_preferred",
  summary:
    "a storm of `count` preferred-leader elections `interval_ms` apart (Kafka's LeaderElectionCommand), each after rotating every replica list (`shuffle`) so that leaders move; observed: leader changes per election (none at all: no effect); one-shot",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  oneShot: true,
  params: z.strictObject({
    count: z.number().int().min(1).max(100).default(5).describe("how many elections"),
    interval_ms: millis(600_000).default(5000).describe("the pause between two elections"),
    shuffle: z.boolean().default(true).describe(
      "rotate every replica list of the topic before each election (moves no data) so that " +
        "each election moves every leader",
    ),
    topic: z.string().min(1).default(WORKLOAD_TOPIC).describe(
      "the topic whose leaders are watched (and shuffled)",
    ),
  }),
  async inject(ctx, _nodes, params) {
    const bootstrap = ctx.stack.endpoints.kafka.bootstrap;
    return await withAdmin(ctx, "chaos-elect-preferred", async (admin) => {
      const first = leaderTable(await partitionStates(admin, params.topic));
      const rounds: ElectionRound[] = [];
      let last = "";
      for (let round = 1; round <= params.count; round++) {
        if (round > 1) await sleep(params.interval_ms);
        let states = await partitionStates(admin, params.topic);
        const before = leaderTable(states);
        if (params.shuffle) {
          const plan = planReassignment("reorder", states, { brokers: ctx.stack.brokerIds() });
          states = (await runReassignment(ctx, admin, {
            topic: params.topic,
            plan,
            withinMs: 30_000,
          })).after;
        }
        const run = await kafkaTool(ctx.binaries, "org.apache.kafka.tools.LeaderElectionCommand", [
          "--bootstrap-server",
          bootstrap,
          "--election-type",
          "preferred",
          "--all-topic-partitions",
        ], { configFlag: "--admin.config" });
        last = toolSaid(run.out, 2);
        // Until every leader is its preferred replica (5 s at most): elections apply quickly.
        for (let i = 0; i < 20; i++) {
          states = await partitionStates(admin, params.topic).catch(() => states);
          if (states.every((s) => s.leader === s.replicas[0])) break;
          await sleep(250);
        }
        const after = leaderTable(states);
        rounds.push({
          round,
          exit: run.code,
          moved: leaderChanges(before, after).length,
          preferred: states.filter((s) => s.leader === s.replicas[0]).length,
          partitions: states.length,
        });
      }
      const summary = stormSummary(rounds);
      if (summary.leader_changes === 0) {
        throw new Error(
          `${summary.elections} preferred elections moved no leader of ${params.topic} ` +
            `(every leader was already its preferred replica${
              params.shuffle ? "" : "; shuffle: true moves them first"
            }; the tool said: ${last || "nothing"})`,
        );
      }
      return {
        observed: {
          topic: params.topic,
          ...summary,
          rounds,
          leaders_before: first,
          leaders_after: leaderTable(await partitionStates(admin, params.topic)),
        },
        heal: () => Promise.resolve({}),
      };
    });
  },
});
