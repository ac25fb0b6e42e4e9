/**
 * Negative control: MinIO loses power mid-load (its data on a lazy disk,
 * compose/lazy_disks.ts, which keeps only what was fsynced). Measured on this
 * machine: the bucket itself does not survive (its creation was never made
 * durable), so every event the sink stored is gone and the sink cannot store
 * more; the validator must name them "in the topic and not stored" (the suite
 * counts this scenario as passing only when the verdict is fail). The heal
 * starts MinIO again on what was durable.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "power-loss-minio",
  description:
    "MinIO loses power mid-load: what it acknowledged and did not fsync is gone and must be named",
  seed: 33,
  expect: "fail",
  workload: {
    eps: 4000,
    duration: "60s",
    incidents: [{ at: "10s", kind: "exfil", duration: "15s" }],
  },
  faults: [
    { at: "30s", kind: "power_loss", target: "minio", heal_after: "10s" },
  ],
  // The sink cannot catch up on a store without its bucket: no need to wait long for it.
  checks: { settle: "30s" },
});
