/**
 * The verdict of a run (the recipe of validate/recipe.ts, with the settings
 * resolved from the scenario): the topic is read end to end into the audit
 * (kept as `topic-audit.bin.gz`), the store is checked against it, and the
 * ledger, deliveries, faults and samples are judged together. Deliveries that
 * arrive later (up to the detector's stop) are judged again by `rejudge`.
 * @module
 */

import { join } from "node:path";
import type { Endpoints } from "../pipeline/endpoints.ts";
import { objectStore } from "../pipeline/store.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import { AUDIT_FILE } from "../validate/evidence.ts";
import type { History } from "../validate/history.ts";
import { auditTopic } from "../validate/kafka_audit.ts";
import { auditKey } from "../validate/digest.ts";
import { loadHarnessKey } from "../lib/harness_key.ts";
import {
  type Judged,
  judgeRun,
  type RunEvidence,
  type VerdictSettings,
} from "../validate/recipe.ts";
import { checkStore } from "../validate/store_check.ts";
import type { Judgement } from "./run_context.ts";

/** Audits the topic, checks the store and judges the run. */
export async function judge(
  settings: VerdictSettings,
  o: {
    brokers: string[];
    topic: string;
    s3: Endpoints["s3"];
    runDir: string;
    /** The run's id: the audit's digests are keyed with auditKey(harness key, runId). */
    runId: string;
    history: History;
    evidence: Omit<RunEvidence, "table" | "stored">;
  },
): Promise<Judgement> {
  const op = o.history.invoke("kafka-audit", { topic: o.topic });
  const key = auditKey(loadHarnessKey(), o.runId); // never written to the run folder
  const audited = await auditTopic(o.brokers, o.topic, { key });
  const audit = { records: audited.records, took_ms: audited.took_ms };
  await Deno.writeFile(join(o.runDir, AUDIT_FILE), audited.table.encode());
  o.history.complete(op, "ok", audit);
  const stored = await checkStore(objectStore(o.s3), o.topic, audited.table);
  const evidence = { ...o.evidence, table: audited.table, stored };
  const judged = judgeRun(settings, evidence);
  const v = judged.verdict;
  o.history.record(v === "fail" ? "fail" : v === "pass" ? "ok" : "info", "verdict", v);
  return { judged, evidence, audit };
}

/** The judgement again when deliveries came in after it; else undefined. */
export function rejudge(
  settings: VerdictSettings,
  judgement: Judgement,
  deliveries: readonly Delivery[],
  history: History,
): Judged | undefined {
  const late = deliveries.length - judgement.evidence.deliveries.length;
  if (late <= 0) return undefined;
  const judged = judgeRun(settings, { ...judgement.evidence, deliveries });
  history.record("info", "late-deliveries", { late, verdict: judged.verdict });
  return judged;
}
