/**
 * `deno task validate --run <run folder> [--ledger extra.json ...]`: re-checks a finished run with the
 * run's own recipe (recipe.ts): the settings recorded in `results.json`, the
 * ledger, the topic audit and the deliveries the run kept, against what is
 * stored now. A re-check of an untouched run gives the run's verdict; a
 * tampered store or delivery log gives `fail`.
 *
 * The run folder's seal is checked first (validate/seal.ts), with the
 * harness's key (`--key FILE`, default the harness's own key file): a file
 * changed, added or missing is named ("evidence altered: deliveries.jsonl")
 * and nothing else of the folder is trusted (exit 1); a folder sealed with
 * another key is exit 2. A folder without `seal.json` fails the same way,
 * unless it is a run of a harness from before seals (results.json's
 * `schema_version` under 2) and `--unsealed` says to trust its files as they
 * are. The sealed list of the store's objects is held against the store: an
 * object changed, added or removed since the run is a failing finding ("store
 * changed since the run: ..."), and the store check still runs.
 *
 * The sealed list is the store as the run's judge listed it (chaos/run_context.ts):
 * what a pipeline changed after its judgement shows here as changed, and never
 * becomes the store the re-check vouches for.
 *
 * The re-check never upgrades what the run recorded: when its verdict differs
 * from the recorded one, both are printed and the worse of the two stands
 * (`recheckOutcome`: fail beats unknown beats pass), so a recorded fail that
 * re-checks pass exits 1, as does a recorded pass that re-checks fail.
 *
 * The store is read from the run's stack while it is up (`--keep-stack`), or
 * else from a MinIO started over the data the run folder kept
 * (`<run>/stack/minio`), stopped again on exit and on Ctrl-C.
 *
 * Exit codes (of the worse of the recorded and the re-checked verdict): 0 pass,
 * 1 a check failed (or the evidence was altered, or the run recorded a fail),
 * 2 bad flags, not a run folder, no key or another key, 3 the checks could not
 * run (nothing kept to read), the run is vacuous, or the re-check was
 * interrupted.
 *
 * ```ts
 * import { recheckOutcome } from "./cli_validate.ts";
 * recheckOutcome("fail", "pass").verdict; // "fail": exit 1, never 0
 * ```
 * @module
 */

import { join } from "node:path";
import { ExitCode, runMain, UsageError, withInterrupt } from "../lib/exit_codes.ts";
import { parseFlags } from "../lib/cli.ts";
import { LocalStack } from "../compose/local_stack.ts";
import { exists } from "../compose/paths.ts";
import { serveStore } from "../compose/store_server.ts";
import { readExternalEndpoints } from "../compose/external_endpoints.ts";
import { objectStore } from "../pipeline/store.ts";
import { Ledger, LedgerFormatError } from "../pipeline/ledger.ts";
import { EvidenceError, readEvidence } from "./evidence.ts";
import { UnreadableEvidenceError } from "./unreadable.ts";
import { judgeRun } from "./recipe.ts";
import { HarnessKeyError, loadHarnessKey, readKeyFile } from "../lib/harness_key.ts";
import { printable } from "./printable.ts";
import {
  checkSeal,
  keyId,
  SEAL_FILE,
  SEALED_SINCE_SCHEMA,
  type SealedStore,
  storeChanges,
} from "./seal.ts";
import { checkStore } from "./store_check.ts";
import { combine, exitCodeOf, type Verdict } from "./verdict.ts";
import { describeVerdict } from "./describe.ts";

const USAGE =
  `usage: deno task validate --run <run folder> [--key FILE] [--ledger extra.json ...] [--topic T] [--endpoints FILE] [--unsealed]

Re-checks a finished run against what is stored now, with the settings the run
recorded. --ledger (repeatable) adds the ledgers of more generators that shared
the run (deno task generate --run-id <id> --worker-offset <n>): checked as one.
--topic defaults to the run's own. A run on an external cluster (--stack external) left its
store there: --endpoints names that file, and the store is read from its S3.
The run folder's seal is checked first, with the harness's key file (--key: the
key of the machine that ran it, for a folder copied here); a file changed, added
or missing fails (exit 1). --unsealed re-checks a run of an older harness (made
before run folders were sealed) trusting its files as they are.
A re-check never upgrades the run's recorded verdict: when they differ, both are
printed and the worse stands (a recorded fail re-checked pass exits 1).
Exit 0 pass, 1 a check failed, the evidence was altered or the run recorded a
fail, 2 bad flags or no (or another) key, 3 nothing to check.`;

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      run: { type: "string" },
      topic: { type: "string" },
      endpoints: { type: "string" },
      ledger: { type: "string", multiple: true, default: [] },
      key: { type: "string" },
      unsealed: { type: "boolean", default: false },
    }, USAGE);
    if (!values.run) throw new UsageError(`--run is required\n${USAGE}`);
    const dir = values.run;
    if (!(await exists(join(dir, "results.json")))) {
      throw new UsageError(`${dir} is not a run folder (no results.json)`);
    }
    const sealed = await trustedFolder(dir, values.key, values.unsealed);
    if (typeof sealed === "number") return sealed;
    let kept;
    try {
      kept = await readEvidence(dir, {
        webhookSecret: sealed.webhookSecret,
        legacyDeliveries: sealed.legacy,
        // The audit's digest key comes from it (default: the key file, read when needed).
        harnessKey: values.key === undefined ? undefined : harnessKey(values.key),
      });
    } catch (error) {
      if (error instanceof UnreadableEvidenceError) {
        console.error(`${dir}: FAIL: ${error.message}`);
        return ExitCode.CheckFailed;
      }
      if (!(error instanceof EvidenceError)) throw error;
      console.error(`cannot re-check ${dir}: ${error.message}`);
      return ExitCode.RunInvalid;
    }
    kept.ledger = await withLedgers(kept.ledger, values.ledger);
    const { results } = kept;
    const topic = values.topic ?? results.topic ?? "network-telemetry";
    const stack = await LocalStack.attach(results.run_id);
    const alive = stack && [...stack.nodes.values()].every((n) => n.state() === "running");
    let s3 = alive ? stack.endpoints.s3 : undefined;
    let source = `the stack of run ${results.run_id}`;
    if (values.endpoints !== undefined) {
      s3 = (await readExternalEndpoints(values.endpoints)).s3;
      source = `the store of ${values.endpoints}`;
    }
    return await withInterrupt(async (signal) => {
      let stopStore = async () => {};
      try {
        if (!s3) {
          const store = join(dir, "stack", "minio");
          if (!(await exists(store))) {
            console.error(
              `the stack of run ${results.run_id} is not running and the run kept no store (${store})`,
            );
            return ExitCode.RunInvalid;
          }
          const server = await serveStore(store);
          s3 = server.s3;
          stopStore = server.stop;
          source = `the store kept in ${store}`;
        }
        signal.throwIfAborted(); // a Ctrl-C while the store started
        const interrupted = new Promise<never>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason), { once: true })
        );
        const stored = await Promise.race([
          checkStore(objectStore(s3), topic, kept.table),
          interrupted,
        ]);
        const judged = judgeRun(results.settings, {
          ...kept,
          stored,
          workload: results.workload,
        });
        const changed = sealed.store
          ? storeChanges(sealed.store, await listSealed(objectStore(s3), sealed.store))
          : [];
        if (changed.length) {
          judged.verdict = "fail";
          judged.reasons.unshift(`the store changed since the run (${changed.length} objects)`);
        }
        const outcome = recheckOutcome(results.verdict, judged.verdict);
        console.log(
          `${results.scenario} (${results.run_id}): ${judged.verdict.toUpperCase()} ` +
            `(recorded: ${printable(String(results.verdict))})`,
        );
        if (outcome.differs) {
          console.log(
            `  the re-check differs from the run's verdict: recorded ` +
              `${outcome.recorded.toUpperCase()}, re-checked ${judged.verdict.toUpperCase()}; ` +
              `the worse stands: ${outcome.verdict.toUpperCase()} ` +
              `(exit ${exitCodeOf(outcome.verdict)})`,
          );
        }
        console.log(`  read from ${source}`);
        if (sealed.legacy) {
          console.log("  unsealed (--unsealed): the folder's files were trusted as they are");
        }
        for (const line of changed) {
          console.log(`  store changed since the run: ${printable(line)}`);
        }
        for (const line of describeVerdict(judged)) console.log(`  ${line}`);
        return exitCodeOf(outcome.verdict);
      } finally {
        await stopStore();
      }
    });
  });
}

/** What `validate --run` concludes from the run's recorded verdict and its re-check's. */
export interface RecheckOutcome {
  /** The worse of the two (fail beats unknown beats pass): what the exit code says. */
  verdict: Verdict;
  /** The recorded verdict as taken (anything but pass, fail or unknown: unknown). */
  recorded: Verdict;
  /** Whether the re-check's verdict differs from the recorded one. */
  differs: boolean;
}

/**
 * The re-check's outcome: never better than what the run recorded (a judged fail that re-checks
 * pass is the store or deliveries changed after the judge, not a pass), never better than the
 * re-check. A recorded verdict that is not one (an unsealed older folder's) counts as unknown.
 * Pure.
 */
export function recheckOutcome(recorded: unknown, rechecked: Verdict): RecheckOutcome {
  const taken: Verdict = recorded === "pass" || recorded === "fail" || recorded === "unknown"
    ? recorded
    : "unknown";
  return {
    verdict: combine([taken, rechecked]),
    recorded: taken,
    differs: taken !== rechecked,
  };
}

/** The run's ledger and the extra ones as one; a bad file or a clash is a usage error. */
async function withLedgers(ledger: Ledger, files: readonly string[]): Promise<Ledger> {
  if (files.length === 0) return ledger;
  const extra: Ledger[] = [];
  for (const file of files) {
    try {
      extra.push(Ledger.parse(await Deno.readTextFile(file)));
    } catch (error) {
      throw new UsageError(`--ledger ${file}: ${(error as Error).message}`);
    }
  }
  try {
    return Ledger.merge([ledger, ...extra]);
  } catch (error) {
    if (error instanceof LedgerFormatError) throw new UsageError(`--ledger: ${error.message}`);
    throw error;
  }
}

/** What the seal vouches for, when the folder passed it. */
interface Trusted {
  webhookSecret: string | null;
  store: SealedStore | null;
  /** An older run's unsealed folder, trusted as it is (`--unsealed`). */
  legacy: boolean;
}

/**
 * The run folder's seal, checked: what it vouches for, or the exit code once the reason was
 * printed (1: evidence altered, added or missing; 2: no key, another key).
 */
async function trustedFolder(
  dir: string,
  keyFile: string | undefined,
  unsealed: boolean,
): Promise<Trusted | ExitCode> {
  if (!(await exists(join(dir, SEAL_FILE)))) {
    const version = schemaVersion(await Deno.readTextFile(join(dir, "results.json")));
    const older = version < SEALED_SINCE_SCHEMA;
    if (unsealed && older) return { webhookSecret: null, store: null, legacy: true };
    console.log(`${dir}: FAIL: the run folder is not as the run left it`);
    console.log(`  evidence altered: ${SEAL_FILE} missing`);
    if (older) {
      console.log(
        "  (a run of a harness from before seals has none: --unsealed re-checks it, trusting " +
          "its files as they are)",
      );
    }
    return ExitCode.CheckFailed;
  }
  const key = harnessKey(keyFile);
  const check = await checkSeal(dir, key);
  if (!check.fingerprintOk) {
    console.error(
      `${dir}: sealed with another key; give it with --key FILE (this key's id is ${keyId(key)})`,
    );
    return ExitCode.InvalidInput;
  }
  if (!check.ok) {
    console.log(`${dir}: FAIL: the run folder is not as the run left it; nothing in it is trusted`);
    for (const f of check.altered) console.log(`  evidence altered: ${printable(f)}`);
    for (const f of check.added) console.log(`  evidence added: ${printable(f)}`);
    for (const f of check.missing) console.log(`  evidence missing: ${printable(f)}`);
    return ExitCode.CheckFailed;
  }
  return { webhookSecret: check.webhookSecret, store: check.store, legacy: false };
}

/** results.json's schema_version (none: 1; not JSON: taken as a sealed run's). */
function schemaVersion(text: string): number {
  try {
    const v = JSON.parse(text)?.schema_version;
    return typeof v === "number" ? v : 1;
  } catch {
    return SEALED_SINCE_SCHEMA;
  }
}

/** The harness's key: `--key FILE`, else the key file (never made here); else exit 2. */
function harnessKey(file: string | undefined): Uint8Array {
  try {
    return file === undefined ? loadHarnessKey(undefined, { create: false }) : readKeyFile(file);
  } catch (error) {
    if (!(error instanceof HarnessKeyError)) throw error;
    throw new UsageError(
      file === undefined
        ? `no harness key here (${error.message}); give --key FILE (the key of the machine that ran it)`
        : `--key: ${error.message}`,
    );
  }
}

/** The store's objects under the sealed list's prefixes, now. */
async function listSealed(
  store: ReturnType<typeof objectStore>,
  sealed: SealedStore,
): Promise<{ name: string; size: number; etag?: string | null }[]> {
  const out = [];
  for (const prefix of sealed.prefixes) out.push(...await store.list(prefix));
  return out;
}
