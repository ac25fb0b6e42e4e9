/**
 * Negative control: all three brokers lose power together mid-load, with
 * Kafka's default flush settings (a partition's log is fsynced only when a
 * segment rolls or the broker shuts down cleanly: the OS is trusted to write
 * it back). Every broker's log dir is on a lazy disk (compose/lazy_disks.ts),
 * which throws away what was not fsynced. acks=all only means that every
 * in-sync replica had the record in its page cache: when they all lose power
 * at once, records they acknowledged are gone from every replica, and the
 * validator must name them (the suite counts this scenario as passing only
 * when the verdict is fail). The heal starts them again on what was durable.
 * The sink is frozen over the fault, so that it cannot have copied the doomed
 * records to MinIO first; alerts are not judged (the detector's input is lost
 * with them).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "power-loss-all-brokers",
  description:
    "all brokers lose power at once, default flush: acknowledged records vanish and must be named",
  seed: 30,
  expect: "fail",
  workload: { eps: 4000, duration: "75s" },
  faults: [
    { at: "15s", kind: "pause", target: "sink", heal_after: "25s" },
    { at: "30s", kind: "power_loss", target: "all-brokers", heal_after: "5s" },
  ],
  checks: { alerts: false, max_unknown_share: 0.5 },
});
