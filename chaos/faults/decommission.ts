/**
 * The `decommission` fault: a broker removed from the cluster and added back.
 * The inject stops the target broker cleanly (SIGTERM: a controlled shutdown
 * moves its leaders away; docker: stop) and unregisters it with Kafka's own
 * tool (`kafka-cluster.sh unregister --id <n>`, `ClusterTool`), then waits
 * until the cluster no longer lists it, fenced or not (`list-endpoints
 * --include-fenced-brokers`). Its replicas stay in the partitions' replica
 * lists and out of their ISRs: with replication factor 3 on 3 brokers and
 * min ISR 2, producing goes on with 2. Each node is broker and controller
 * here: its controller leaves the quorum with it (2 of 3 voters remain).
 *
 * The heal starts it again on its data: it registers anew and catches up. The
 * heal waits (`back_within_ms`) until it is registered and unfenced and in
 * the ISR of every partition it holds a replica of, on every topic; past it
 * the heal fails, saying which partitions still lack it.
 *
 * Evidence: the registered brokers before, while removed, and after the heal.
 * @module
 */

import { z } from "zod";
import type { Admin } from "kafkajs";
import { sleep } from "../../lib/wait.ts";
import { brokerIdOf } from "../../compose/stack.ts";
import {
  kafkaTool,
  KafkaToolError,
  type Registered,
  registeredBrokers,
  withAdmin,
} from "./kafka_admin.ts";
import { millis } from "./params.ts";
import { aliveBefore } from "./signals.ts";
import { BOTH_STACKS, defineFault, nodeOf } from "./types.ts";

/** How long the cluster may take to forget an unregistered broker, or the broker to stop. */
const GONE_WAIT_MS = 30_000;

/** Why `target` cannot be decommissioned (one broker at a time), or undefined. */
export function decommissionProblem(target: string): string | undefined {
  if (!target.startsWith("broker:")) {
    return `decommission acts on one broker (broker:<id>, broker:leader(...), ...), not ${target}`;
  }
  return undefined;
}

/** The registered ids, fenced ones marked: `[1, "2 (fenced)", 3]` (pure, for evidence). */
export function registeredList(brokers: readonly Registered[]): (number | string)[] {
  return brokers.map((b) => b.state === "fenced" ? `${b.id} (fenced)` : b.id);
}

/**
 * The partitions (as `topic/partition`) that hold a replica on `broker` but lack it in their
 * ISR (pure): empty when it is back in every ISR.
 */
export function missingFromIsr(
  topics: readonly {
    name: string;
    partitions: { partitionId: number; replicas: number[]; isr: number[] }[];
  }[],
  broker: number,
): string[] {
  return topics.flatMap((t) =>
    t.partitions.filter((p) => p.replicas.includes(broker) && !p.isr.includes(broker))
      .map((p) => `${t.name}/${p.partitionId}`)
  );
}

async function lacking(admin: Admin, broker: number): Promise<string[]> {
  const topics = await admin.listTopics();
  const meta = await admin.fetchTopicMetadata({ topics });
  return missingFromIsr(meta.topics, broker);
}

export const decommission = defineFault({
  kind: "decommission",
  summary:
    "a broker stopped and unregistered (Kafka's kafka-cluster.sh unregister), the cluster seen without it; healed by starting it again, seen registered and back in every ISR; observed: registered brokers before, during and after",
  targets: ["broker"],
  stacks: BOTH_STACKS,
  params: z.strictObject({
    back_within_ms: millis(600_000).min(1000).default(120_000).describe(
      "how long the heal waits for the broker to be registered and back in every ISR",
    ),
  }),
  problem: (target) =>
    target === "all-brokers"
      ? "decommission removes one broker: all-brokers would leave no cluster"
      : decommissionProblem(target),
  async inject(ctx, nodes, params) {
    if (nodes.length !== 1) {
      throw new Error(`decommission removes one broker, the target names ${nodes.length}`);
    }
    const name = nodes[0];
    const id = brokerIdOf(name);
    const bootstrap = ctx.stack.endpoints.kafka.bootstrap;
    const node = nodeOf(ctx, name);
    aliveBefore(ctx, nodes, "decommission");
    const before = await registeredBrokers(ctx.binaries, bootstrap);
    if (!before.some((b) => b.id === id)) {
      throw new Error(`broker ${id} is not registered (${JSON.stringify(before)})`);
    }
    await node.stop({ graceMs: GONE_WAIT_MS });
    const t0 = performance.now();
    let during: Registered[] = before;
    let said = "";
    for (;;) {
      // Kafka may refuse while the broker is still shutting down: asked again.
      const run = await kafkaTool(ctx.binaries, "org.apache.kafka.tools.ClusterTool", [
        "unregister",
        "--bootstrap-server",
        bootstrap,
        "--id",
        String(id),
      ], { configFlag: "--config" });
      said = run.out.trim().split("\n").slice(-1)[0] ?? "";
      during = await registeredBrokers(ctx.binaries, bootstrap).catch(() => during);
      if (!during.some((b) => b.id === id)) break;
      if (performance.now() - t0 > GONE_WAIT_MS) {
        // No heal follows a failed inject: the broker is started again here.
        await node.start().catch(() => {});
        throw run.code !== 0
          ? new KafkaToolError("ClusterTool unregister", run)
          : new Error(`broker ${id} is still registered ${GONE_WAIT_MS} ms after unregister`);
      }
      await sleep(1000);
    }
    return {
      observed: {
        broker: id,
        registered_before: registeredList(before),
        registered_during: registeredList(during),
        unregistered_after_ms: Math.round(performance.now() - t0),
        tool: said,
      },
      async heal() {
        await node.start();
        const h0 = performance.now();
        return await withAdmin(ctx, "chaos-decommission", async (admin) => {
          let after: Registered[] = [];
          let missing: string[] = ["(not checked yet)"];
          while (performance.now() - h0 < params.back_within_ms) {
            after = await registeredBrokers(ctx.binaries, bootstrap).catch(() => after);
            const back = after.some((b) => b.id === id && b.state === "unfenced");
            if (back) missing = await lacking(admin, id).catch(() => missing);
            if (back && missing.length === 0) {
              return {
                started: name,
                registered_after: registeredList(after),
                back_in_isr_after_ms: Math.round(performance.now() - h0),
              };
            }
            await sleep(1000);
          }
          throw new Error(
            `broker ${id} started again but was not back within ${params.back_within_ms} ms: ` +
              `registered ${JSON.stringify(registeredList(after))}, missing from the ISR of ` +
              `${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}`,
          );
        });
      },
    };
  },
});
