/**
 * The verdict of a run (the recipe of validate/recipe.ts, with the settings
 * resolved from the scenario): the topic is read end to end into the audit
 * (kept as `topic-audit.bin.gz`), the store is checked against it, and the
 * ledger, deliveries, faults and samples are judged together. Deliveries that
 * arrive later (up to the detector's stop) are judged again by `rejudge`.
 * When records were lost, the brokers' logs are read from their disks while
 * the stack is still up (`brokerLogs`: the harness's own stacks only) and
 * every lost record is blamed on where it was last seen (validate/blame.ts).
 * @module
 */

import { join, relative } from "node:path";
import { remoteEngineHost } from "../compose/docker_network.ts";
import { brokerNode, type Stack } from "../compose/stack.ts";
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
import { blame, lostBeforeKafka, lostRecords } from "../validate/blame.ts";
import { type BrokerLog, searchLogs } from "../validate/log_segments.ts";
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
    /** Each broker's log dir, for the blame of lost records (`brokerLogs`); or why not. */
    logs?: BrokerLog[] | { unavailable: string };
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
  let blamed = null;
  if ((judged.completeness?.lost ?? 0) > 0 && o.logs) {
    // The blame tells where; it never costs the verdict (a failed read is said in it).
    const bop = o.history.invoke("blame", { topic: o.topic });
    try {
      const lost = lostRecords(o.evidence.ledger, audited.table, stored);
      const logs = o.logs;
      const found = Array.isArray(logs)
        ? await searchLogs(logs, o.topic, lostBeforeKafka(lost)).catch((error) => ({
          unavailable: `the brokers' logs could not be read: ${(error as Error).message}`,
        }))
        : logs;
      blamed = blame(lost, found);
      o.history.complete(bop, "ok", { counts: blamed.counts, unavailable: blamed.unavailable });
    } catch (error) {
      o.history.complete(bop, "fail", { error: String(error) });
    }
  }
  return { judged, evidence, audit, blame: blamed };
}

/**
 * Each broker's log dir as this host reads it (its `log.dirs` in the broker's server.properties;
 * a container's `/data` is the host's `<dataDir>/kafka-<id>`), or why the run cannot read them.
 */
export async function brokerLogs(stack: Stack): Promise<BrokerLog[] | { unavailable: string }> {
  if (stack.kind === "external") {
    return { unavailable: "the stack is external: its brokers' logs are not on this host" };
  }
  const remote = stack.kind === "docker" ? remoteEngineHost() : undefined;
  if (remote) {
    return { unavailable: `the docker engine is remote (${remote}): the brokers' logs are there` };
  }
  const logs: BrokerLog[] = [];
  for (const id of stack.brokerIds()) {
    const home = join(stack.dataDir, brokerNode(id));
    const props = await Deno.readTextFile(join(home, "server.properties")).catch(() => "");
    const dir = /^log\.dirs=([^,\n]+)/m.exec(props)?.[1].trim() ?? join(home, "log");
    logs.push({
      broker: brokerNode(id),
      dir: stack.kind === "docker" ? join(home, relative("/data", dir)) : dir,
    });
  }
  return logs;
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
