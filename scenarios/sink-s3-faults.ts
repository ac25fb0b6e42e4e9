/**
 * The sink under S3 API failures, one after the other, each for 12 s: the
 * local stack's S3 proxy (compose/s3_proxy.ts) answers the sink's PUTs 500
 * InternalError, then 503 SlowDown (half of them), holds each 5 s, cuts the
 * connection mid-body, and finally forwards each PUT, which MinIO stores, and
 * drops the answer (the sink sees a failure for a write that happened and
 * writes it again). The sink retries with backoff and commits an offset only
 * after a confirmed upload; its objects are named by their offset range, so
 * a write repeated after a lost answer replaces itself. Every acknowledged
 * event must be stored exactly once (no loss, no duplicate) and the
 * exfiltration under way alerted once: expected verdict PASS. Each fault
 * counts as injected only if the proxy counted its effect (its evidence).
 */
import { defineScenario } from "../chaos/scenario.ts";

export default defineScenario({
  name: "sink-s3-faults",
  description: "S3 500s, SlowDown, stalls, resets and lost answers in turn: stored exactly once",
  seed: 31,
  workload: {
    eps: 4000,
    duration: "115s",
    incidents: [{ at: "40s", kind: "exfil", duration: "20s" }],
  },
  faults: [
    {
      at: "10s",
      kind: "s3_fault",
      target: "minio",
      params: { mode: "error_500" },
      heal_after: "12s",
    },
    {
      at: "27s",
      kind: "s3_fault",
      target: "minio",
      params: { mode: "slowdown", share: 0.5 },
      heal_after: "12s",
    },
    {
      at: "44s",
      kind: "s3_fault",
      target: "minio",
      params: { mode: "stall", stall_ms: 5000 },
      heal_after: "12s",
    },
    { at: "61s", kind: "s3_fault", target: "minio", params: { mode: "reset" }, heal_after: "12s" },
    {
      at: "78s",
      kind: "s3_fault",
      target: "minio",
      params: { mode: "lost_answer" },
      heal_after: "12s",
    },
  ],
  checks: { max_duplicates: 0, alerts: true },
});
