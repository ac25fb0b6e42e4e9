/**
 * `deno task validate --run <run folder>`: re-runs every checker against what
 * is stored now (a doubter's or a grader's re-check), without changing the
 * run's own reports.
 *
 * - Stack still up (`deno task scenario <name> --keep-stack`): the store and
 *   Kafka of that stack; the Kafka audit splits lost events into "never in the
 *   topic" and "lost by the sink".
 * - Stack gone: a MinIO process over the store the run kept
 *   (`<run>/stack/minio`); no Kafka audit.
 *
 * Completeness and alerts come from the store, `ledger.json` and
 * `deliveries.jsonl`; probes and recovery from `samples.jsonl` and the faults
 * in `results.json`, with the scenario's current definition.
 *
 * Exit codes: 0 pass, 1 a check failed, 2 bad flags or run folder, 3 the
 * checks could not run (nothing kept to read) or the run is vacuous.
 * @module
 */

import { join } from "node:path";
import { ExitCode, runMain, UsageError } from "../chaos/exit_codes.ts";
import { checkTimeline, type Results } from "../chaos/engine.ts";
import { loadScenario } from "../chaos/cli_scenario.ts";
import { parseFlags } from "../compose/_cli.ts";
import { LocalStack } from "../compose/local_stack.ts";
import { exists } from "../compose/paths.ts";
import { serveStore } from "../compose/store_server.ts";
import type { Alert } from "../pipeline/alert.ts";
import { kafkaClient } from "../pipeline/kafka.ts";
import { Ledger } from "../pipeline/ledger.ts";
import { objectStore } from "../pipeline/store.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import { checkAlerts } from "./alerts.ts";
import { checkCompleteness } from "./completeness.ts";
import { auditTopic } from "./kafka_audit.ts";
import { parseSamples } from "./samples.ts";
import { scanStore } from "./store_scan.ts";
import { exitCodeOf, runVerdict } from "./verdict.ts";

const USAGE = "usage: deno task validate --run <run folder> [--topic network-telemetry]";

async function readJson<T>(path: string): Promise<T> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      run: { type: "string" },
      topic: { type: "string", default: "network-telemetry" },
    }, USAGE);
    if (!values.run) throw new UsageError(USAGE);
    const dir = values.run;
    const results = await readJson<Results>(join(dir, "results.json"));
    const ledger = Ledger.parse(
      await Deno.readTextFile(join(dir, "ledger.json")).catch(() => {
        throw new UsageError(`no ledger.json in ${dir}: the run never finished its workload`);
      }),
    );
    const deliveries = (await Deno.readTextFile(join(dir, "deliveries.jsonl")).catch(() => ""))
      .split("\n").filter(Boolean).map((l) => JSON.parse(l) as Delivery)
      .filter((d) => d.answered === 200).map((d) => d.body as Alert);

    const stack = await LocalStack.attach(results.run_id);
    const alive = stack && [...stack.nodes.values()].every((n) => n.state() === "running");
    let s3 = alive ? stack.endpoints.s3 : undefined;
    let stopStore = async () => {};
    let source = `the stack of run ${results.run_id}`;
    if (!s3) {
      const kept = join(dir, "stack", "minio");
      if (!(await exists(kept))) {
        console.error(
          `the stack of run ${results.run_id} is not running and the run kept no store (${kept})`,
        );
        return ExitCode.RunInvalid;
      }
      const server = await serveStore(kept);
      s3 = server.s3;
      stopStore = server.stop;
      source = `the store kept in ${kept} (stack down: no Kafka audit)`;
    }
    try {
      const scan = await scanStore(objectStore(s3), values.topic);
      const audit = alive
        ? await auditTopic(
          kafkaClient(stack.endpoints.kafka.bootstrap.split(","), "validate"),
          values.topic,
        )
        : undefined;
      const completeness = checkCompleteness(ledger, scan, {
        minAcked: results.completeness?.acked ? Math.min(results.completeness.acked, 1) : 1,
        inKafka: audit?.seqs,
        kafkaDuplicates: audit?.duplicates,
      });
      const alerts = results.alerts ? checkAlerts(ledger.incidents, deliveries) : null;
      const samples = parseSamples(
        await Deno.readTextFile(join(dir, "samples.jsonl")).catch(() => ""),
      );
      const scenario = await loadScenario(results.scenario).catch(() => undefined);
      const timeline = scenario && results.workload
        ? checkTimeline(scenario, results.faults, samples, results.workload)
        : { probes: null, recovery: null };
      const { verdict, reasons } = runVerdict({
        completeness,
        alerts,
        faults: results.faults,
        probes: timeline.probes,
        recovery: timeline.recovery,
        recoveryIsHypothesis: scenario?.checks.recovery_within !== undefined,
      });
      console.log(
        `${results.scenario} (${results.run_id}): ${verdict.toUpperCase()} (recorded: ${results.verdict})`,
      );
      console.log(`  read from ${source}`);
      console.log(
        `  completeness: acked ${completeness.acked}, found ${completeness.found}, lost ${completeness.lost} ` +
          (completeness.lost_before_kafka === null
            ? ""
            : `(before Kafka ${completeness.lost_before_kafka}, by the sink ${completeness.lost_by_sink}) `) +
          `duplicates ${completeness.duplicates}, unexpected ${completeness.unexpected}`,
      );
      for (const [pid, seqs] of Object.entries(completeness.lost_sample)) {
        console.log(`    missing ${pid}: ${seqs.join(", ")}`);
      }
      if (alerts) {
        console.log(
          `  alerts: incidents ${alerts.incidents}, matched ${alerts.matched}, missed ${alerts.missed}, ` +
            `duplicated ${alerts.duplicated}, false positives ${alerts.false_positives}`,
        );
      }
      for (const p of timeline.probes?.probes ?? []) {
        console.log(
          `  probe ${p.name} (${p.phase}): ${p.verdict}, measured ${p.measured}, expected ${p.expected}`,
        );
      }
      for (const f of timeline.recovery?.faults ?? []) {
        console.log(
          `  recovery after ${f.fault}: ${
            f.recovered_ms === null ? "never" : `${f.recovered_ms} ms`
          }`,
        );
      }
      for (const r of reasons) console.log(`  - ${r}`);
      return exitCodeOf(verdict);
    } finally {
      await stopStore();
    }
  });
}
