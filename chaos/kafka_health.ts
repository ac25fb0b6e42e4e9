/**
 * Kafka's health as the admin API sees it, for the per-second samples and
 * their probes: the topic's under-replicated partitions (fewer in-sync
 * replicas than replicas), its offline partitions (no leader), its smallest
 * ISR, and the active controller.
 *
 * ```ts
 * import { readKafkaHealth } from "./kafka_health.ts";
 * const health = await readKafkaHealth(admin, "network-telemetry");
 * health.under_replicated; // 0 when every replica is in sync
 * ```
 * @module
 */

import type { Admin } from "kafkajs";

export interface KafkaHealth {
  under_replicated: number;
  offline_partitions: number;
  /** The smallest in-sync replica set over the topic's partitions. */
  min_isr: number;
  /** The active controller's node id; null when none answered. */
  controller: number | null;
}

/** A partition as the metadata describes it. */
export interface PartitionState {
  leader: number;
  replicas: number[];
  isr: number[];
}

/** Health from a topic's partitions (pure). A leader of -1 or outside the ISR is offline. */
export function summarizeHealth(
  partitions: readonly PartitionState[],
  controller: number | null,
): KafkaHealth {
  let underReplicated = 0;
  let offline = 0;
  let minIsr = Infinity;
  for (const p of partitions) {
    if (p.isr.length < p.replicas.length) underReplicated++;
    if (p.leader < 0 || !p.isr.includes(p.leader)) offline++;
    minIsr = Math.min(minIsr, p.isr.length);
  }
  return {
    under_replicated: underReplicated,
    offline_partitions: offline,
    min_isr: Number.isFinite(minIsr) ? minIsr : 0,
    controller,
  };
}

/** Reads the topic's metadata and the cluster's controller through the admin client. */
export async function readKafkaHealth(admin: Admin, topic: string): Promise<KafkaHealth> {
  const [metadata, cluster] = await Promise.all([
    admin.fetchTopicMetadata({ topics: [topic] }),
    admin.describeCluster().catch(() => null),
  ]);
  const partitions = metadata.topics.find((t) => t.name === topic)?.partitions ?? [];
  const controller = cluster && cluster.controller !== null && cluster.controller >= 0
    ? cluster.controller
    : null;
  return summarizeHealth(partitions, controller);
}
