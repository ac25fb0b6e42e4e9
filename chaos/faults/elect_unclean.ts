/**
 * `elect_unclean`: asks the controller for an unclean leader election on every
 * partition, with Kafka's own `LeaderElectionCommand`
 * (`kafka-leader-election.sh --election-type unclean --all-topic-partitions`).
 * Since Kafka 4.1 (ELR on), a controller with
 * `unclean.leader.election.enable=true` elects an out-of-sync replica on its
 * own only every few minutes; this forces it now. One-shot: nothing to heal.
 *
 * Observed from the metadata, not from the command's output (which is empty
 * for `--all-topic-partitions` on Kafka 4.1): the partitions that had no live
 * leader before and have one after, with their new leader and ISR. Partitions
 * stayed offline: the fault fails. None was offline (the controller already
 * elected on its own, as Kafka 4.1 did here within 15 s of the fencing):
 * observed as `already_led`.
 *
 * Only meaningful on purpose-built unsafe set-ups (negative controls).
 * @module
 */

import type { Admin } from "kafkajs";
import { sleep } from "../../lib/wait.ts";
import { kafkaClient } from "../../pipeline/kafka.ts";
import { kafkaTool } from "./kafka_admin.ts";
import { NO_PARAMS } from "./params.ts";
import { BOTH_STACKS, defineFault } from "./types.ts";

type Leaders = Map<string, { leader: number; isr: number[] }>;

async function leaders(admin: Admin, live: Set<number>): Promise<Leaders> {
  const topics = (await admin.listTopics()).filter((t) => !t.startsWith("__"));
  const meta = await admin.fetchTopicMetadata({ topics });
  const out: Leaders = new Map();
  for (const t of meta.topics) {
    for (const p of t.partitions) {
      out.set(`${t.name}-${p.partitionId}`, {
        leader: live.has(p.leader) ? p.leader : -1,
        isr: p.isr,
      });
    }
  }
  return out;
}

export const electUnclean = defineFault({
  kind: "elect_unclean",
  summary: "Kafka's unclean leader election on every partition without a leader (one-shot)",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  oneShot: true,
  params: NO_PARAMS,
  async inject(ctx) {
    const bootstrap = ctx.stack.endpoints.kafka.bootstrap;
    const live = new Set(
      ctx.stack.brokerIds().filter((id) => ctx.stack.broker(id).state() === "running"),
    );
    const admin = kafkaClient(bootstrap.split(","), "chaos-elect-unclean", { logLevel: 0 })
      .admin();
    await admin.connect();
    try {
      const before = await leaders(admin, live);
      const offline = [...before].filter(([, p]) => p.leader < 0).map(([tp]) => tp);
      // Through kafkaTool: the cluster's client properties (the local stack's SCRAM harness user).
      const out = await kafkaTool(ctx.binaries, "org.apache.kafka.tools.LeaderElectionCommand", [
        "--bootstrap-server",
        bootstrap,
        "--election-type",
        "unclean",
        "--all-topic-partitions",
      ], { configFlag: "--admin.config" });
      const said = out.out.trim().split("\n").slice(-5).join(" / ");
      let elected: Record<string, { leader: number; isr: number[] }> = {};
      for (let i = 0; i < 20; i++) {
        const after = await leaders(admin, live);
        elected = Object.fromEntries(
          offline.filter((tp) => (after.get(tp)?.leader ?? -1) >= 0).map((
            tp,
          ) => [tp, after.get(tp)!]),
        );
        if (offline.length && Object.keys(elected).length === offline.length) break;
        await sleep(500);
      }
      if (offline.length === 0) {
        // The controller got there first (it elects unclean on its own when the last in-sync
        // replica is fenced and the topic allows it): nothing is left to force.
        return {
          observed: { offline_before: [], elected: {}, already_led: true, command_exit: out.code },
          heal: () => Promise.resolve({}),
        };
      }
      if (Object.keys(elected).length === 0) {
        throw new Error(
          `no unclean election happened: ${offline.length} partitions had no live leader ` +
            `(${offline.slice(0, 6).join(", ") || "none"}); the command exited ${out.code}` +
            (said ? `: ${said}` : ""),
        );
      }
      return {
        observed: { offline_before: offline, elected, command_exit: out.code },
        heal: () => Promise.resolve({}),
      };
    } finally {
      await admin.disconnect();
    }
  },
});
