/**
 * `deno task validate --run <run folder> [--ledger extra.json ...]`: re-checks a finished run with the
 * run's own recipe (recipe.ts): the settings recorded in `results.json`, the
 * ledger, the topic audit and the deliveries the run kept, against what is
 * stored now. A re-check of an untouched run gives the run's verdict; a
 * tampered store or delivery log gives `fail`.
 *
 * The store is read from the run's stack while it is up (`--keep-stack`), or
 * else from a MinIO started over the data the run folder kept
 * (`<run>/stack/minio`), stopped again on exit and on Ctrl-C.
 *
 * Exit codes: 0 pass, 1 a check failed, 2 bad flags or not a run folder,
 * 3 the checks could not run (nothing kept to read), the run is vacuous, or
 * the re-check was interrupted.
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
import { judgeRun } from "./recipe.ts";
import { checkStore } from "./store_check.ts";
import { exitCodeOf } from "./verdict.ts";
import { describeVerdict } from "./describe.ts";

const USAGE =
  `usage: deno task validate --run <run folder> [--ledger extra.json ...] [--topic T] [--endpoints FILE]

Re-checks a finished run against what is stored now, with the settings the run
recorded. --ledger (repeatable) adds the ledgers of more generators that shared
the run (deno task generate --run-id <id> --worker-offset <n>): checked as one.
--topic defaults to the run's own. A run on an external cluster (--stack external) left its
store there: --endpoints names that file, and the store is read from its S3.
Exit 0 pass, 1 a check failed, 2 bad flags, 3 nothing to check.`;

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      run: { type: "string" },
      topic: { type: "string" },
      endpoints: { type: "string" },
      ledger: { type: "string", multiple: true, default: [] },
    }, USAGE);
    if (!values.run) throw new UsageError(`--run is required\n${USAGE}`);
    const dir = values.run;
    if (!(await exists(join(dir, "results.json")))) {
      throw new UsageError(`${dir} is not a run folder (no results.json)`);
    }
    let kept;
    try {
      kept = await readEvidence(dir);
    } catch (error) {
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
        console.log(
          `${results.scenario} (${results.run_id}): ${judged.verdict.toUpperCase()} ` +
            `(recorded: ${results.verdict})`,
        );
        console.log(`  read from ${source}`);
        for (const line of describeVerdict(judged)) console.log(`  ${line}`);
        return exitCodeOf(judged.verdict);
      } finally {
        await stopStore();
      }
    });
  });
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
