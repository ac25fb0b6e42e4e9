/**
 * Negative control: an unsafe Kafka (RF 3 but min ISR 1, acks=1, unclean
 * leader election on) loses acknowledged events, and the validator must say
 * so. The sink is frozen first so that it cannot copy the doomed events to
 * MinIO before Kafka drops them. Then replication from the leader of
 * partition 0 is cut (its inter-broker listener), so both followers fall out
 * of its ISR after replica.lag.time.max.ms (5 s here) while it keeps
 * acknowledging alone; the leader is killed; an unclean election makes a
 * stale follower the leader; the old leader comes back and truncates. The
 * suite counts this scenario as passing only when the verdict is fail.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "unsafe-kafka",
  description:
    "min ISR 1, acks=1, unclean election: acknowledged events are lost and must be found",
  seed: 22,
  expect: "fail",
  stack: {
    brokers: 3,
    partitions: 6,
    replication_factor: 3,
    min_insync_replicas: 1,
    unclean_leader_election: true,
    acks: "1",
    idempotent: false,
    broker_overrides: { "replica.lag.time.max.ms": 5000 },
  },
  workload: { eps: 5000, duration: "90s" },
  faults: [
    { at: "10s", kind: "pause", target: "sink", heal_after: "45s" },
    {
      at: "12s",
      kind: "partition",
      target: "broker:leader(network-telemetry,0)",
      params: { listeners: ["internal"] },
      heal_after: "40s",
    },
    { at: "30s", kind: "kill", target: "broker:leader(network-telemetry,0)", heal_after: "30s" },
    { at: "45s", kind: "elect_unclean", target: "all-brokers" },
  ],
  checks: { alerts: false },
});
