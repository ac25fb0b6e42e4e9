/**
 * One run's context, handed from phase to phase: the scenario and its seed,
 * the run folder, the history, the status line, and the parts each phase has
 * made so far (a part is there once its phase made it). `teardown` ends every
 * run, whatever happened before (success, failure, an exception, Ctrl-C):
 * observation stopped, every fault still in force healed, the components
 * stopped, the webhook receiver closed, and the stack taken down (or left
 * running with `--keep-stack`). The store and the logs stay in the run
 * folder, so `validate --run` works after the stack is gone.
 *
 * The run's last act is `sealRun`: once every evidence file and report is
 * written and the components are stopped, `seal.json` seals the folder, the
 * store's object list and the webhook secret under the harness's key, loaded
 * (made on first use) when the run opens (validate/seal.ts).
 *
 * The sealed object list is the store the judge checked: the very listing its
 * store check read (names, sizes, ETags; validate/store_check.ts), cut to the
 * run's `events/<topic>/` and `dlq/<topic>/`. Not a listing taken later: the
 * pipeline runs on after the judge (late alerts are still judged, up to the
 * detector's stop in `teardown`), so a store listed at teardown could hold
 * what a hostile sink repaired, or spoiled, once judged, and `validate --run`
 * would re-check that as the run's store. Freezing the pipeline before the
 * judge was the other way; it would cut the detector's late deliveries short
 * and needs a freezer every stack has not. So the judge's listing is sealed,
 * and whatever the pipeline changes after it shows in `validate --run` as
 * "the store changed since the run" (a fail); `teardown` lists the store again
 * once the pipeline is stopped and records such changes in the history
 * (`store-after-judge`). A legitimate sink, done by the end of settle, changes
 * nothing: its run re-checks as it was judged. A run never judged (it failed
 * or was interrupted first) seals the store as `teardown` lists it, the
 * pipeline stopped.
 *
 * ```ts
 * const run = await openRun(scenario, { seed, kind: "local" });
 * try { ...phases, the judge... } finally { await endRun(run, {}); } // teardown, never throws
 * await sealRun(run); // seal.json: the folder, the judged store, the secret
 * ```
 * @module
 */

import { SubmissionError } from "./submission_error.ts";
import { freezerDir, freezerLayout, openFreezer } from "../compose/freezer.ts";
import { join } from "node:path";
import type { ProcessNode } from "../compose/process_node.ts";
import type { S3Keys } from "../compose/minio_users.ts";
import type { Stack, StackKind } from "../compose/stack.ts";
import type { Ledger } from "../pipeline/ledger.ts";
import type { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { History } from "../validate/history.ts";
import type { VerdictSettings } from "../validate/recipe.ts";
import type { Results } from "../validate/results.ts";
import type { Sample } from "../validate/samples.ts";
import type { Judged, RunEvidence } from "../validate/recipe.ts";
import type { FaultRecord, RunCost } from "../validate/results.ts";
import { HarnessKeyError, loadHarnessKey } from "../lib/harness_key.ts";
import { UsageError } from "../lib/exit_codes.ts";
import { objectStore } from "../pipeline/store.ts";
import { type SealedStore, sealRunFolder, storeChanges } from "../validate/seal.ts";
import type { ListedObject } from "../validate/store_check.ts";
import { tolerateAbandonedRequests } from "./rejections.ts";
import { createRunFolder, type RunFolder } from "./run_folder.ts";
import { type RunNames, runNames } from "./run_names.ts";
import type { Scenario } from "./scenario.ts";
import { verdictSettings } from "./settings.ts";
import { RunStatus } from "./status.ts";

/** The verdict phase's result: what was judged, on what, and the audit's figures. */
export interface Judgement {
  judged: Judged;
  evidence: RunEvidence;
  audit: NonNullable<Results["audit"]>;
  /** Where the lost records were last seen (validate/blame.ts); null when nothing was lost. */
  blame?: Results["blame"];
}

/** What a run has started or gathered so far. */
export interface RunParts {
  stack?: Stack;
  /**
   * The pipeline's MinIO keys, limited to the run's bucket (compose/minio_users.ts); absent on an
   * external stack, whose endpoints file names the pipeline's keys.
   */
  pipelineS3?: S3Keys;
  /** The run's Kafka ACLs (compose/kafka_acl.ts), revoked at teardown; never throws. */
  kafkaAcls?: { revoke(): Promise<void> };
  receiver?: WebhookReceiver;
  components?: Map<string, ProcessNode>;
  /** The fault timeline (timeline.ts). */
  timeline?: { healAll(): Promise<void>; records(): FaultRecord[] };
  /** The samplers (observe.ts). */
  observation?: { stop(): Promise<void> };
  ledger?: Ledger;
  samples?: Sample[];
  cost?: RunCost;
  judgement?: Judgement;
  /**
   * The store's objects for the seal: as the judge listed them, or (a run never judged) once the
   * pipeline stopped; null: they could not be listed.
   */
  sealedStore?: SealedStore | null;
}

export interface RunContext {
  scenario: Scenario;
  seed: number;
  kind: StackKind;
  folder: RunFolder;
  runDir: string;
  runId: string;
  /** The run's topic and consumer groups. */
  names: RunNames;
  history: History;
  status: RunStatus;
  signal?: AbortSignal;
  settings: VerdictSettings;
  /** Epoch ms of the workload's start and end. */
  times: Results["workload"];
  parts: RunParts;
  /** Why the run is unknown: it failed or was interrupted. */
  reasons: string[];
  /** A graded pipeline's own failure (SubmissionError): the run fails rather than being unknown. */
  submissionFailure?: string;
  /** The sink and detector are a graded pipeline's own commands (not the built-in ones). */
  ownPipeline?: boolean;
  /** Ends the tolerance of abandoned requests (see rejections.ts). */
  stopTolerating(): void;
  /** The harness's key (lib/harness_key.ts): the run folder is sealed with it. */
  key: Uint8Array;
}

/** Opens a run: its folder, history and status line. */
export async function openRun(
  scenario: Scenario,
  o: { seed: number; kind: StackKind; outDir?: string; signal?: AbortSignal },
): Promise<RunContext> {
  const key = harnessKey();
  const folder = await createRunFolder(scenario.name, o.outDir);
  const history = new History(join(folder.dir, "history.jsonl"));
  return {
    scenario,
    seed: o.seed,
    kind: o.kind,
    folder,
    runDir: folder.dir,
    runId: folder.runId,
    names: runNames(o.kind, folder.runId),
    history,
    status: new RunStatus(scenario.name, history),
    signal: o.signal,
    settings: verdictSettings(scenario),
    times: { started_at: null, ended_at: null },
    parts: {},
    reasons: [],
    stopTolerating: tolerateAbandonedRequests({
      log: (message) => history.record("info", "rejection", message),
      signal: o.signal,
    }),
    key,
  };
}

/** The harness's key, made on first use; one that cannot be used is the user's to fix (exit 2). */
function harnessKey(): Uint8Array {
  try {
    return loadHarnessKey();
  } catch (error) {
    if (!(error instanceof HarnessKeyError)) throw error;
    throw new UsageError(`cannot seal the run folder: ${error.message}`, { cause: error });
  }
}

/** Records why the run stopped early: interrupted, or failed with `error`. */
export function recordFailure(run: RunContext, error: unknown): void {
  run.history.closeOpen(run.signal?.aborted ? "interrupted" : "the run failed");
  if (run.signal?.aborted) {
    run.reasons.push("interrupted");
    run.history.record("info", "interrupted", String(run.signal.reason));
  } else if (error instanceof SubmissionError) {
    run.submissionFailure = error.message;
    run.history.record("fail", "submission", error.message);
  } else {
    run.reasons.push(`the run failed: ${(error as Error).message}`);
    run.history.record("fail", "run", String((error as Error).stack ?? error));
  }
}

/** A step of `teardown` that failed (recorded in the history when it did). */
class TeardownError extends Error {
  override name = "TeardownError";
}

/**
 * `teardown`, and one that throws recorded as a reason to doubt the run, never thrown: a judged
 * fail stands (verdictOf in outcome.ts), anything else is unknown; the run is still reported and
 * sealed.
 */
export async function endRun(run: RunContext, o: { keepStack?: boolean }): Promise<void> {
  await teardown(run, o).catch((error) => {
    run.reasons.push(`the teardown failed: ${(error as Error)?.message ?? error}`);
    // A step's failure is in the history already.
    if (!(error instanceof TeardownError)) {
      run.history.record("fail", "teardown", String((error as Error)?.stack ?? error));
    }
  });
}

/**
 * Ends the run's parts, in order; a step that throws is recorded and the next ones still run (a
 * fault is healed, the stack taken down, whatever failed before), then the first failure is
 * thrown (`endRun` makes it a reason).
 */
export async function teardown(run: RunContext, o: { keepStack?: boolean }): Promise<void> {
  const p = run.parts;
  const failures: unknown[] = [];
  const step = async (what: string, action: () => Promise<unknown> | undefined) => {
    try {
      await action();
    } catch (error) {
      const message = `${what}: ${(error as Error)?.message ?? error}`;
      failures.push(new TeardownError(message, { cause: error }));
      run.history.record("fail", "teardown", message);
    }
  };
  await step("observation", () => p.observation?.stop());
  run.status.stop();
  await step("heal", () => p.timeline?.healAll());
  for (const c of new Set(p.components?.values() ?? [])) {
    // A component's processes that outlive it (its cgroup not empty) are recorded, by pid.
    await c.stop({ graceMs: 10_000 }).catch((error) =>
      run.history.record("fail", "teardown", `${c.name} did not stop: ${(error as Error).message}`)
    );
    // A component that never started, or died before an interrupt, leaves its cgroup empty: it
    // goes too (a cgroup with members left is recorded above and kept).
    const name = c.spec.cgroup;
    if (name && existsCgroup(name)) {
      await openFreezer(name)?.remove().catch(() => {});
    }
  }
  // The ledger is the grader's answer key: it reaches the run folder (and never the store) only
  // now that the pipeline is stopped.
  if (p.ledger) {
    await Deno.writeTextFile(join(run.runDir, "ledger.json"), JSON.stringify(p.ledger)).catch((
      error,
    ) => run.history.record("fail", "ledger", `ledger.json could not be written: ${error}`));
  }
  await p.receiver?.stop().catch(() => {});
  // The pipeline's rights end with it (also on Ctrl-C; a kept stack keeps none of them).
  await p.kafkaAcls?.revoke();
  const stack = p.stack;
  if (stack) {
    p.sealedStore = await storeForSeal(run, stack);
    if (o.keepStack) await step("detach", () => stack.detach());
    else if (stack.kind === "external") {
      // What the run created on a cluster that is not its own goes; what went is recorded.
      const op = run.history.invoke("stack-down", { kind: "external" });
      await stack.down({ quiet: true }).then(
        (deleted) => run.history.complete(op, "ok", { deleted }),
        (error) => run.history.complete(op, "fail", { error: String(error) }),
      );
    } else await stack.down({ quiet: true, retain: ["minio", "logs"] }).catch(() => {});
  }
  if (failures.length) throw failures[0];
}

/** Whether the freezer cgroup `name` exists (checked before opening it, which would make it). */
function existsCgroup(name: string): boolean {
  const layout = freezerLayout();
  if (!layout) return false;
  try {
    return Deno.statSync(freezerDir(layout.base, name)).isDirectory;
  } catch {
    return false;
  }
}

/** The prefixes of the run's objects in the store: those the seal lists. */
export function runPrefixes(topic: string): string[] {
  return [`events/${topic}/`, `dlq/${topic}/`];
}

/**
 * The judge's listing as the seal holds it: the objects under `prefixes` (the others are not the
 * run's: another topic's batches, which the check leaves alone, or foreign objects, which it fails
 * whatever the seal says). Pure.
 */
export function judgedStore(
  bucket: string,
  prefixes: readonly string[],
  listing: readonly ListedObject[],
): SealedStore {
  return {
    bucket,
    prefixes: [...prefixes],
    objects: listing
      .filter((o) => prefixes.some((p) => o.name.startsWith(p)))
      .map((o) => ({ name: o.name, size: o.size, etag: o.etag ?? null })),
  };
}

/**
 * The store the seal vouches for: the judge's listing when the run was judged (the store listed
 * again now, the pipeline stopped, and any change since the judge recorded), else the store now.
 */
async function storeForSeal(run: RunContext, stack: Stack): Promise<SealedStore | null> {
  const prefixes = runPrefixes(run.names.topic);
  const now = await listStore(run, stack, prefixes);
  const listing = run.parts.judgement?.evidence.stored.listing;
  if (!listing) return now;
  const judged = judgedStore(objectStore(stack.endpoints.s3).bucket, prefixes, listing);
  const changed = now ? storeChanges(judged, now.objects) : [];
  if (changed.length) {
    run.history.record("info", "store-after-judge", {
      note: "the pipeline changed the store after the judge listed it: the seal keeps the " +
        "judged listing, and validate --run fails on these changes",
      changes: changed,
    });
  }
  return judged;
}

/** How long listing the store for the seal may take. */
const LIST_TIMEOUT_MS = 120_000;

/**
 * The store's objects under `prefixes` (those the re-check reads), listed with the harness's keys;
 * null, recorded, when they cannot be.
 */
async function listStore(
  run: RunContext,
  stack: Stack,
  prefixes: readonly string[],
): Promise<SealedStore | null> {
  const store = objectStore(stack.endpoints.s3);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const objects = await Promise.race([
      Promise.all(prefixes.map((prefix) => store.list(prefix))).then((lists) => lists.flat()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${LIST_TIMEOUT_MS} ms`)),
          LIST_TIMEOUT_MS,
        );
      }),
    ]);
    return {
      bucket: store.bucket,
      prefixes: [...prefixes],
      objects: objects.map((o) => ({ name: o.name, size: o.size, etag: o.etag ?? null })),
    };
  } catch (error) {
    run.history.record("fail", "seal", `the store could not be listed for the seal: ${error}`);
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Seals the run folder (validate/seal.ts): the run's last act, once every file is written. A seal
 * that cannot be written leaves a folder `validate --run` refuses: said here, and the run is
 * invalid (false).
 */
export async function sealRun(run: RunContext): Promise<boolean> {
  try {
    await sealRunFolder(run.runDir, run.key, {
      runId: run.runId,
      store: run.parts.sealedStore ?? null,
      webhookSecret: run.parts.receiver?.secret ?? null,
    });
    return true;
  } catch (error) {
    console.error(`the run folder ${run.runDir} could not be sealed: ${error}`);
    return false;
  }
}
