/**
 * What a run folder keeps for a re-check, and reading it back: the ledger,
 * the topic audit (`topic-audit.bin.gz`), the webhook deliveries, the
 * per-second samples, the sink group's sampled commits (`commits.jsonl`), the history (what the faults did) and the results with
 * the verdict's settings.
 * The store itself is read live (the run's stack, or the MinIO data the run
 * folder kept).
 *
 * ```ts
 * import { readEvidence } from "./evidence.ts";
 * const kept = await readEvidence("reports/runs/steady-state/latest");
 * kept.table.size;
 * ```
 * @module
 */

import { join } from "node:path";
import { Ledger, LedgerFormatError } from "../pipeline/ledger.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import { DELIVERIES_FILE, parseDeliveries } from "./deliveries.ts";
import { type CommitEvidence, COMMITS_FILE, parseCommits } from "./commits.ts";
import { type AbortRecord, abortRecord, faultRecords, readHistory } from "./history.ts";
import type { FaultOutcome, VerdictSettings } from "./recipe.ts";
import { parseSamples, type Sample } from "./samples.ts";
import { readResults } from "./results.ts";
import { UnreadableEvidenceError } from "./unreadable.ts";
import {
  AuditKeyError,
  AuditUnreadableError,
  AuditVersionError,
  TopicTable,
} from "./topic_table.ts";
import { auditKey } from "./digest.ts";
import { HarnessKeyError, loadHarnessKey } from "../lib/harness_key.ts";
import { UsageError } from "../lib/exit_codes.ts";

export const AUDIT_FILE = "topic-audit.bin.gz";

/** The parts of results.json a re-check reads. */
export interface RecordedRun {
  scenario: string;
  run_id: string;
  /** The run's topic (absent before runs recorded it: `network-telemetry`). */
  topic?: string;
  verdict: string;
  settings: VerdictSettings;
  faults: FaultOutcome[];
  workload: { started_at: number | null; ended_at: number | null };
}

export interface KeptEvidence {
  results: RecordedRun;
  /** What the faults did, derived from `history.jsonl` (results.json's copy for older runs). */
  faults: FaultOutcome[];
  /** The run's abort, from `history.jsonl`. */
  aborted: AbortRecord | null;
  ledger: Ledger;
  table: TopicTable;
  deliveries: Delivery[];
  samples: Sample[];
  /** The sink group's sampled commits (`commits.jsonl`); null: the run kept none (older runs). */
  commits: CommitEvidence | null;
}

/** A run folder that cannot be re-checked (missing or unreadable files). */
export class EvidenceError extends Error {
  override name = "EvidenceError";
}

/** How to read the deliveries (deliveries.ts): the run's webhook secret, from its seal. */
export interface EvidenceReading {
  /** Default null: no signature is checked (every one counts as unchecked). */
  webhookSecret?: string | null;
  /** Trust the recorded signature checks of a run from before bodies were kept. */
  legacyDeliveries?: boolean;
  /**
   * The harness's key (lib/harness_key.ts): the audit's digest key is derived from it and the
   * run's id (digest.ts `auditKey`). Default: the key file, read, never made.
   */
  harnessKey?: Uint8Array;
}

export async function readEvidence(
  dir: string,
  reading: EvidenceReading = {},
): Promise<KeptEvidence> {
  const read = async (name: string) => {
    try {
      return await Deno.readFile(join(dir, name));
    } catch (error) {
      throw new EvidenceError(`cannot read ${join(dir, name)}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  const text = async (name: string) => new TextDecoder().decode(await read(name));
  const resultsText = await text("results.json");
  if (olderRun(resultsText)) {
    throw new EvidenceError(
      `${join(dir, "results.json")} records no verdict settings (a run of an older harness)`,
    );
  }
  const results = readResults(resultsText) as RecordedRun;
  let table: TopicTable;
  try {
    // The key is read only once the file is known to be a keyed audit.
    const key = () =>
      auditKey(reading.harnessKey ?? loadHarnessKey(undefined, { create: false }), results.run_id);
    table = TopicTable.decode(await read(AUDIT_FILE), key);
  } catch (error) {
    if (error instanceof EvidenceError) throw error;
    // An audit of an earlier format, or under another key, or no key: exit 2, not a finding.
    if (error instanceof AuditVersionError || error instanceof AuditKeyError) {
      throw new UsageError(`${join(dir, AUDIT_FILE)}: ${error.message}`, { cause: error });
    }
    if (error instanceof HarnessKeyError) {
      throw new UsageError(`cannot re-check ${dir}: ${error.message}`, { cause: error });
    }
    throw new UnreadableEvidenceError(
      AUDIT_FILE,
      null,
      `${error instanceof AuditUnreadableError ? "" : "not a topic audit: "}${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const deliveries = parseDeliveries(await text(DELIVERIES_FILE).catch(() => ""), {
    secret: reading.webhookSecret ?? null,
    legacy: reading.legacyDeliveries,
  });
  const history = readHistory(await text("history.jsonl").catch(() => ""));
  return {
    results,
    faults: faultRecords(history) ?? results.faults,
    aborted: abortRecord(history),
    ledger: readLedger(await text("ledger.json")),
    table,
    deliveries,
    samples: parseSamples(await text("samples.jsonl").catch(() => "")),
    commits: await text(COMMITS_FILE).then(parseCommits, (error) => {
      if (error.cause instanceof Deno.errors.NotFound) return null;
      throw error;
    }),
  };
}

/** True for the results of a harness from before settings were recorded (nothing to re-check). */
function olderRun(text: string): boolean {
  try {
    const x = JSON.parse(text);
    return typeof x === "object" && x !== null && !Array.isArray(x) && !("settings" in x);
  } catch {
    return false; // not JSON: readResults says so
  }
}

/** `ledger.json`; a bad one is unreadable evidence. */
function readLedger(text: string): Ledger {
  try {
    return Ledger.parse(text);
  } catch (error) {
    if (!(error instanceof LedgerFormatError)) throw error;
    throw new UnreadableEvidenceError("ledger.json", null, error.message, { cause: error });
  }
}
