/**
 * The flagship: exfiltration from two sources while the leader of the
 * partition carrying the first source is SIGKILLed in the middle of its
 * incident and restarted 30 s later. Expected: nothing lost, no duplicate in
 * the store, one alert per exfiltration incident and no other alert.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "exfil-under-broker-loss",
  description:
    "SIGKILL the leader carrying an exfiltrating source mid-incident; restart it 30 s later",
  seed: 7,
  stack: {
    brokers: 3,
    partitions: 6,
    replication_factor: 3,
    min_insync_replicas: 2,
    unclean_leader_election: false,
    acks: "all",
    idempotent: true,
  },
  workload: {
    eps: 10_000,
    duration: "120s",
    incidents: [
      { at: "15s", kind: "exfil", duration: "30s" },
      { at: "25s", kind: "exfil", duration: "20s" },
    ],
  },
  faults: [
    { at: "30s", kind: "kill", target: "broker:leader-of-incident(0)", heal_after: "30s" },
  ],
  checks: { max_duplicates: 0, alerts: true, recovery_within: "30s" },
  // Whether this machine kept the target rate: reported (and a note when it did not), never
  // part of the verdict, which is about what was lost and alerted.
  probes: [
    {
      name: "the target rate held before the fault",
      metric: "acked_eps",
      stat: "mean",
      op: ">=",
      value: 9_500,
      phase: "before",
      advisory: true,
    },
  ],
});
