/**
 * `deno task validate --run <run folder>`: re-runs every checker against what
 * is stored now (a doubter's or a grader's re-check). The run's stack must
 * still be up (`deno task scenario <name> --keep-stack`); its endpoints come
 * from the stack state named after the run id in results.json.
 *
 * Exit codes: 0 pass, 1 a check failed, 2 bad flags or run folder, 3 the
 * checks could not run (stack gone) or the run is vacuous.
 * @module
 */

import { join } from "node:path";
import { ExitCode, runMain, UsageError } from "../chaos/exit_codes.ts";
import type { Results } from "../chaos/engine.ts";
import { parseFlags } from "../compose/_cli.ts";
import { LocalStack } from "../compose/local_stack.ts";
import type { Alert } from "../pipeline/alert.ts";
import { kafkaClient } from "../pipeline/kafka.ts";
import { Ledger } from "../pipeline/ledger.ts";
import { objectStore } from "../pipeline/store.ts";
import type { Delivery } from "../pipeline/webhook_receiver.ts";
import { checkAlerts } from "./alerts.ts";
import { checkCompleteness } from "./completeness.ts";
import { auditTopic } from "./kafka_audit.ts";
import { scanStore } from "./store_scan.ts";
import { combine, exitCodeOf } from "./verdict.ts";

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
    if (!stack || !alive) {
      console.error(
        `the stack of run ${results.run_id} is not running: re-run the scenario with --keep-stack to re-check a store`,
      );
      return ExitCode.RunInvalid;
    }
    const kafka = kafkaClient(stack.endpoints.kafka.bootstrap.split(","), "validate");
    const scan = await scanStore(objectStore(stack.endpoints.s3), values.topic);
    const audit = await auditTopic(kafka, values.topic);
    const completeness = checkCompleteness(ledger, scan, {
      minAcked: results.completeness?.acked ? Math.min(results.completeness.acked, 1) : 1,
      inKafka: audit.seqs,
    });
    const alerts = results.alerts ? checkAlerts(ledger.incidents, deliveries) : null;
    const verdict = combine([completeness.verdict, alerts?.verdict ?? "pass"]);
    console.log(
      `${results.scenario} (${results.run_id}): ${verdict.toUpperCase()} (recorded: ${results.verdict})`,
    );
    console.log(
      `  completeness: acked ${completeness.acked}, found ${completeness.found}, lost ${completeness.lost} ` +
        `(before Kafka ${completeness.lost_before_kafka}, by the sink ${completeness.lost_by_sink}), ` +
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
    for (const r of [...completeness.reasons, ...(alerts?.reasons ?? [])]) console.log(`  - ${r}`);
    return exitCodeOf(verdict);
  });
}
