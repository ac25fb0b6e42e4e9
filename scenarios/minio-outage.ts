/**
 * SIGKILL MinIO for 25 s: the sink retries, opens its breaker and stops
 * consuming (bounded memory); once MinIO is back, the lag drains and nothing
 * acknowledged is missing or doubled.
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "minio-outage",
  description: "SIGKILL MinIO for 25 s: the sink backs off, then drains; nothing lost or doubled",
  seed: 18,
  workload: {
    eps: 8000,
    duration: "100s",
    incidents: [{ at: "10s", kind: "exfil", duration: "20s" }],
  },
  faults: [{ at: "30s", kind: "kill", target: "minio", heal_after: "25s" }],
});
