/**
 * The same power loss of all three brokers at once, with every append fsynced
 * (`flush_messages: 1`, Kafka's `log.flush.interval.messages=1`): a record is
 * acknowledged only once every in-sync replica has it on disk, so the lazy
 * disks keep it and nothing acknowledged may be lost. The cost is in the
 * latency of each append (an fsync per produce request and per replica fetch).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "power-loss-all-brokers-fsync",
  description: "all brokers lose power at once, every append fsynced: nothing acknowledged lost",
  seed: 31,
  stack: { flush_messages: 1 },
  workload: { eps: 4000, duration: "75s" },
  faults: [
    { at: "15s", kind: "pause", target: "sink", heal_after: "25s" },
    { at: "30s", kind: "power_loss", target: "all-brokers", heal_after: "5s" },
  ],
  checks: { alerts: false, max_unknown_share: 0.5 },
});
