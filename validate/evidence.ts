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
import { Ledger } from "../pipeline/ledger.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import { type CommitEvidence, COMMITS_FILE, parseCommits } from "./commits.ts";
import { type AbortRecord, abortRecord, faultRecords, parseHistory } from "./history.ts";
import type { FaultOutcome, VerdictSettings } from "./recipe.ts";
import { parseSamples, type Sample } from "./samples.ts";
import { TopicTable } from "./topic_table.ts";

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

export async function readEvidence(dir: string): Promise<KeptEvidence> {
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
  const results = JSON.parse(await text("results.json")) as RecordedRun;
  if (!results.settings) {
    throw new EvidenceError(
      `${join(dir, "results.json")} records no verdict settings (a run of an older harness)`,
    );
  }
  let table: TopicTable;
  try {
    table = TopicTable.decode(await read(AUDIT_FILE));
  } catch (error) {
    if (error instanceof EvidenceError) throw error;
    throw new EvidenceError(`${join(dir, AUDIT_FILE)} is not a topic audit`, { cause: error });
  }
  const deliveries = (await text("deliveries.jsonl").catch(() => "")).split("\n")
    .filter((l) => l.trim()).map(parseDelivery);
  const history = parseHistory(await text("history.jsonl").catch(() => ""));
  return {
    results,
    faults: faultRecords(history) ?? results.faults,
    aborted: abortRecord(history),
    ledger: Ledger.parse(await text("ledger.json")),
    table,
    deliveries,
    samples: parseSamples(await text("samples.jsonl").catch(() => "")),
    commits: await text(COMMITS_FILE).then(parseCommits, (error) => {
      if (error.cause instanceof Deno.errors.NotFound) return null;
      throw error;
    }),
  };
}

/** A line of deliveries.jsonl; one that is not a delivery becomes one whose body is no alert. */
function parseDelivery(line: string): Delivery {
  try {
    const d = JSON.parse(line);
    if (typeof d === "object" && d !== null && typeof d.answered === "number") {
      return {
        received_at_ms: Number(d.received_at_ms) || 0,
        body: d.body ?? null,
        idempotency_key: d.idempotency_key ?? null,
        signature_ok: typeof d.signature_ok === "boolean" ? d.signature_ok : null,
        answered: d.answered,
      };
    }
  } catch { /* below */ }
  return { received_at_ms: 0, body: line, idempotency_key: null, signature_ok: null, answered: 0 };
}
