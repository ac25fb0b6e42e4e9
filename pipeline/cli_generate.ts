/**
 * `deno task generate [flags]`: runs the telemetry generator standalone
 * against the running local stack (`deno task up`) or `--brokers`.
 *
 * Every knob is a flag, an environment variable and a scenario key (see
 * knobs.ts; `--help` lists them). Scheduled incidents: `--incident
 * KIND@AT/DURATION[=ENTITY]`, e.g. `--incident exfil@10s/20s`, repeatable.
 *
 * Writes the ledger to `--out` (default `reports/runs/generate/<run_id>/`),
 * and nowhere else: it is the answer key of the run (every incident's kind,
 * entity and time), so the pipeline's store is no place for it. Only
 * `--upload-ledger` also puts it in S3 (the local stack or `S3_*`) under
 * `ledger/<run_id>/ledger.json` (`ledger-o<offset>.json` with a
 * `--worker-offset`), for a user's own tooling; the harness never asks for it.
 * Several generators share one run with `--run-id` and distinct `--worker-offset`s;
 * `--start-at` starts them together. Prints a live status line on stderr and a summary; exits 0
 * when every attempted event ended acknowledged, 1 otherwise, 2 on bad input.
 * @module
 */

import { join } from "node:path";
import { ExitCode, InterruptedError, runMain, UsageError } from "../lib/exit_codes.ts";
import { parseKnobArgs, repoRoot, runningStack, stackEndpoints } from "./_cli.ts";
import { INCIDENT_KINDS, type IncidentKind } from "./anomalies.ts";
import { Generator } from "./generator.ts";
import type { ScheduledIncident } from "./generator_options.ts";
import { ensureTopic, kafkaClient } from "./kafka.ts";
import { GENERATOR_KNOBS, knobHelp } from "./knobs.ts";
import { parseDuration } from "../lib/duration.ts";
import { kafkaClientKind } from "./producer_client.ts";
import { serveMetrics, withProcessMetrics } from "./metrics.ts";
import { objectStore, s3FromEnv, type S3Settings } from "./store.ts";
import { StatusLine } from "./status_line.ts";
import { sleep } from "../lib/wait.ts";

const USAGE = `usage: deno task generate [flags]
${knobHelp(GENERATOR_KNOBS)}
  --incident KIND@AT/DURATION[=ENTITY]   schedule an incident (${INCIDENT_KINDS.join(", ")})
  --stack NAME                           local stack to use (default "default")
  --out DIR                              where the ledger goes (DIR/ledger.json)
  --upload-ledger                        also put the ledger in S3, under ledger/<run id>/
                                         (never for a pipeline under test: it is the answer key)
  --start-at EPOCH_MS                    connect first, then start producing at this moment
  --status-file FILE                     rewrite this JSON file with the live figures every second`;

/** Parses `exfil@10s/20s=10.0.3.9`. */
function parseIncident(text: string): ScheduledIncident {
  const m = text.match(/^([a-z_]+)@([^/=]+)(?:\/([^=]+))?(?:=(.+))?$/);
  if (!m) throw new UsageError(`--incident must look like exfil@10s/20s, got "${text}"`);
  const [, kind, at, duration, entity] = m;
  if (!INCIDENT_KINDS.includes(kind as IncidentKind)) {
    throw new UsageError(
      `--incident kind must be one of ${INCIDENT_KINDS.join(", ")}, got "${kind}"`,
    );
  }
  const atMs = parseDuration(at);
  const durationMs = duration === undefined ? 20_000 : parseDuration(duration);
  if (atMs === undefined || durationMs === undefined) {
    throw new UsageError(`--incident times must be durations like 10s, got "${text}"`);
  }
  return { kind: kind as IncidentKind, at_ms: atMs, duration_ms: durationMs, entity };
}

if (import.meta.main) {
  await runMain(async () => {
    const args = parseKnobArgs(Deno.args, GENERATOR_KNOBS, USAGE, {
      incident: { type: "string", multiple: true },
      out: { type: "string" },
      "start-at": { type: "string" },
      "status-file": { type: "string" },
      "upload-ledger": { type: "boolean" },
    });
    if (!args) return ExitCode.Pass;
    const { knobs } = args;
    const values = args.flags;
    const incidents = ((values.incident ?? []) as string[]).map(parseIncident);
    const startAt = values["start-at"] === undefined ? undefined : Number(values["start-at"]);
    if (startAt !== undefined && !Number.isSafeInteger(startAt)) {
      throw new UsageError(`--start-at must be epoch milliseconds, got "${values["start-at"]}"`);
    }
    const statusFile = values["status-file"] as string | undefined;
    const acks = { all: -1, "-1": -1, "1": 1, "0": 0 }[knobs.PRODUCER_ACKS as string];
    if (acks === undefined) {
      throw new UsageError(`--acks must be all, 1 or 0, got "${knobs.PRODUCER_ACKS}"`);
    }
    if (knobs.PRODUCER_IDEMPOTENT && acks !== -1) {
      throw new UsageError("--idempotent needs --acks all (or set PRODUCER_IDEMPOTENT=false)");
    }
    const sendMode = knobs.PRODUCER_SEND_MODE as string;
    if (sendMode !== "per-partition" && sendMode !== "batch") {
      throw new UsageError(`--send-mode must be per-partition or batch, got "${sendMode}"`);
    }
    const client = kafkaClientKind(knobs.KAFKA_CLIENT as string, "--kafka-client (KAFKA_CLIENT)");
    // Values are checked before looking for a stack: a bad one is a usage error wherever it runs.
    let brokers = knobs.KAFKA_BROKERS as string[];
    const upload = values["upload-ledger"] === true;
    let s3: S3Settings | undefined = upload ? s3FromEnv() : undefined;
    if (brokers.length === 0 || (upload && !s3)) {
      const stack = await runningStack(args.stack);
      if (brokers.length === 0) {
        brokers = (await stackEndpoints(args.stack, "brokers (KAFKA_BROKERS or --brokers)")).kafka
          .bootstrap.split(",");
      }
      if (upload) s3 ??= stack?.s3;
    }
    if (upload && !s3) {
      throw new UsageError(
        "--upload-ledger needs an object store: set S3_*, or start a stack with: deno task up",
      );
    }
    const topic = knobs.KAFKA_TOPIC as string;
    const kafka = kafkaClient(brokers, "generator-cli");
    await ensureTopic(kafka, topic);
    let generator: Generator;
    try {
      generator = new Generator({
        brokers,
        topic,
        eps: knobs.EPS_TARGET as number,
        workers: knobs.WORKER_COUNT as number,
        workerOffset: knobs.WORKER_OFFSET as number,
        durationMs: knobs.DURATION as number,
        seed: knobs.SEED as string,
        runId: knobs.RUN_ID as string,
        // Keys the incident entities (anomalies.ts, `entityWalk`); the harness sets it for the
        // processes of one run. Unset: a random one.
        entitySecret: Deno.env.get("INCIDENT_ENTITY_SECRET") || undefined,
        chaosMode: knobs.CHAOS_MODE as boolean,
        probabilities: {
          latency_spike: knobs.LATENCY_SPIKE_PROB as number,
          reset_storm: knobs.ERROR_RATE_PROB as number,
          exfil: knobs.DATA_EXFIL_PROB as number,
          port_scan: knobs.PORT_SCAN_PROB as number,
        },
        malformedProb: knobs.MALFORMED_PROB as number,
        incidents,
        batchSize: knobs.BATCH_SIZE as number,
        deliveryTimeoutMs: knobs.DELIVERY_TIMEOUT as number,
        acks: acks as -1 | 0 | 1,
        idempotent: knobs.PRODUCER_IDEMPOTENT as boolean,
        sendMode,
        client,
        threads: knobs.GENERATOR_THREADS as boolean,
      });
    } catch (error) {
      if (error instanceof RangeError) throw new UsageError(error.message);
      throw error;
    }
    const metrics = serveMetrics(
      withProcessMetrics(generator.metrics),
      knobs.METRICS_PORT as number,
    );
    const abort = new AbortController();
    const onSignal = () => abort.abort(new InterruptedError("SIGINT"));
    Deno.addSignalListener("SIGINT", onSignal);
    const status = new StatusLine();
    const ticker = setInterval(() => {
      const s = generator.status();
      if (statusFile) {
        Deno.writeTextFile(`${statusFile}.tmp`, JSON.stringify(s))
          .then(() => Deno.rename(`${statusFile}.tmp`, statusFile)).catch(() => {});
      }
      status.show(
        `gen ${
          s.elapsed_s.toFixed(0)
        }s | target ${s.target_eps} ev/s | acked ${s.acked_eps} ev/s | ` +
          `in flight ${s.in_flight} | acked ${s.acked} failed ${s.failed} unknown ${s.unknown} | ` +
          `incidents ${s.incidents} malformed ${s.malformed}`,
      );
    }, 1000);
    let ledger;
    try {
      if (startAt !== undefined) {
        // Producers connected before the moment: every process of a run starts at once.
        await generator.prepare();
        await sleep(Math.max(0, startAt - Date.now()), abort.signal).catch(() => {});
      }
      ledger = await generator.run(abort.signal);
    } finally {
      clearInterval(ticker);
      status.clear();
      Deno.removeSignalListener("SIGINT", onSignal);
      await metrics.shutdown();
    }
    const runId = generator.options.runId;
    const out = (values.out as string | undefined) ??
      join(repoRoot, "reports", "runs", "generate", runId);
    await Deno.mkdir(out, { recursive: true });
    const json = JSON.stringify(ledger);
    await Deno.writeTextFile(join(out, "ledger.json"), json);
    // Generators sharing a run (a worker offset) keep their ledgers side by side.
    const offset = generator.options.workerOffset;
    const key = `ledger/${runId}/ledger${offset ? `-o${offset}` : ""}.json`;
    if (s3) await objectStore(s3).putText(key, json, "application/json");
    const t = ledger.totals();
    const secs = ((ledger.meta.ended_at_ms ?? 0) - (ledger.meta.started_at_ms ?? 0)) / 1000;
    console.log(
      `run ${runId}: attempted ${t.attempted}, acked ${t.acked} (${
        (t.acked / secs).toFixed(0)
      } ev/s), ` +
        `failed ${t.failed}, unknown ${t.unknown}, malformed ${t.malformed}, incidents ${ledger.incidents.length}`,
    );
    console.log(
      `ledger: ${join(out, "ledger.json")}${s3 ? ` and s3://${s3.bucket}/${key}` : ""}`,
    );
    if (abort.signal.aborted) return ExitCode.RunInvalid;
    return t.acked === t.attempted ? ExitCode.Pass : ExitCode.CheckFailed;
  });
}
