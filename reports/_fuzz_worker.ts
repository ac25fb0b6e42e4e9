/**
 * One fuzz case of `fuzz_test.ts`, in a worker the test can terminate (a hang
 * is detected, not waited on): the seal checked, every reader of the run
 * folder, the judging, the terminal lines and every report renderer; or, for
 * a stored object, the object parser on the mutated bytes. Replies how the
 * case ended: an exit code with the file named, or a crash with its stack.
 * @module
 */

/// <reference lib="deno.worker" />

import { UsageError } from "../lib/exit_codes.ts";
import { acceptedAlerts } from "../validate/alerts.ts";
import { describeVerdict } from "../validate/describe.ts";
import { EvidenceError, readEvidence } from "../validate/evidence.ts";
import { checkObject, newFindings } from "../validate/object_check.ts";
import { judgeRun } from "../validate/recipe.ts";
import type { Results } from "../validate/results.ts";
import { checkSeal } from "../validate/seal.ts";
import { checkStore, type StoreCheck } from "../validate/store_check.ts";
import { UnreadableEvidenceError } from "../validate/unreadable.ts";
import { exitCodeOf } from "../validate/verdict.ts";
import { memoryStore } from "../validate/_synthetic.ts";
import { renderHtml } from "./html.ts";
import { renderJunit, renderMarkdown } from "./render.ts";
import { gradeJunit, gradeScenario, gradeSubmission, gradeText } from "./grade.ts";

export interface FuzzRequest {
  dir: string;
  key: Uint8Array;
  /** The store's objects (sent once; kept by the worker). */
  objects?: [string, Uint8Array][];
  /** Their listing's times and ETags (sent with them). */
  listed?: [string, { last_modified_ms?: number; etag?: string }][];
  /** A stored object's mutated bytes: only the object parser runs. */
  object?: { key: string; bytes: Uint8Array };
  /** The audit was mutated: check the store against it (else the unmutated audit's check is kept). */
  auditMutated?: boolean;
}

export interface FuzzReply {
  /** 0 pass, 1 fail or unreadable evidence, 2 usage error, 3 unknown or a named missing file. */
  code: number | null;
  /** The message of a named error (it names the file). */
  message?: string;
  /** The verdict's reasons, when the check ran to its end. */
  reasons?: string;
  /** An exception no reader should throw, with its stack. */
  crash?: string;
}

let objects = new Map<string, Uint8Array>();
let listed = new Map<string, { last_modified_ms?: number; etag?: string }>();
/** The store checked against the unmutated audit (the same for every other case). */
let stored: StoreCheck | null = null;

self.onmessage = async (e: MessageEvent<FuzzRequest>) => {
  let reply: FuzzReply;
  try {
    reply = await runCase(e.data);
  } catch (error) {
    if (error instanceof UnreadableEvidenceError) reply = { code: 1, message: error.message };
    else if (error instanceof UsageError) reply = { code: 2, message: error.message };
    else if (error instanceof EvidenceError) reply = { code: 3, message: error.message };
    else reply = { code: null, crash: (error as Error)?.stack ?? String(error) };
  }
  self.postMessage(reply);
};

async function runCase(req: FuzzRequest): Promise<FuzzReply> {
  if (req.objects) objects = new Map(req.objects);
  if (req.listed) listed = new Map(req.listed);
  const seal = await checkSeal(req.dir, req.key);
  if (!seal.ok) {
    const named = [...seal.altered, ...seal.added, ...seal.missing].join(", ");
    return { code: 1, message: `evidence altered: ${named || "(another key)"}` };
  }
  const kept = await readEvidence(req.dir, {
    harnessKey: req.key,
    webhookSecret: seal.webhookSecret,
  });
  if (req.object) {
    checkObject(req.object.key, req.object.bytes, kept.table, newFindings());
    return { code: 0 };
  }
  let check = req.auditMutated ? null : stored;
  if (!check) {
    const topic = kept.results.topic ?? "network-telemetry";
    check = await checkStore(memoryStore(objects, listed), topic, kept.table, { workers: 1 });
    if (!req.auditMutated) stored = check;
  }
  const judged = judgeRun(kept.results.settings, {
    ...kept,
    stored: check,
    workload: kept.results.workload,
  });
  describeVerdict(judged);
  const recorded = kept.results as unknown as Results;
  const results: Results = {
    ...recorded,
    verdict: judged.verdict,
    reasons: judged.reasons,
    completeness: judged.completeness,
    alerts: judged.alerts,
    probes: judged.probes,
    recovery: judged.recovery,
    durability: judged.durability,
    faults: kept.faults.map((f) => ({ source: "timeline", nodes: [], detail: {}, ...f })),
    aborted: kept.aborted,
    cost: null,
  };
  renderMarkdown(results);
  renderJunit(results);
  renderHtml({
    results,
    samples: kept.samples,
    incidents: kept.ledger.incidents,
    alerts: acceptedAlerts(kept.deliveries),
  });
  const grade = gradeSubmission("fuzz", {
    suite: "fuzz",
    seed: 1,
    seed_drawn: false,
    pass_mark: 0,
  }, [gradeScenario(results, req.dir)]);
  gradeText(grade);
  gradeJunit(grade);
  return { code: exitCodeOf(judged.verdict), reasons: judged.reasons.join("; ") };
}
