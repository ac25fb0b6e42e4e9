/**
 * `deno task sink [flags]`: runs the sink standalone against the running local
 * stack (`deno task up`) or `--brokers` and `S3_*`. SIGTERM or Ctrl-C: flush,
 * commit, exit 0. `--help` lists the knobs.
 * @module
 */

import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { parseKnobArgs, stackEndpoints } from "./_cli.ts";
import { knobHelp, SINK_KNOBS } from "./knobs.ts";
import { serveMetrics, withProcessMetrics } from "./metrics.ts";
import { Sink } from "./sink.ts";
import { s3FromEnv } from "./store.ts";
import { sabotageMode, SINK_SABOTAGES } from "./sabotage.ts";
import { StatusLine } from "./status_line.ts";

const USAGE = `usage: deno task sink [flags]\n${
  knobHelp(SINK_KNOBS)
}\n  --stack NAME   local stack to use (default "default")`;

if (import.meta.main) {
  await runMain(async () => {
    const args = parseKnobArgs(Deno.args, SINK_KNOBS, USAGE);
    if (!args) return ExitCode.Pass;
    const { knobs } = args;
    const sabotage = sabotageMode(
      "SINK_SABOTAGE",
      knobs.SINK_SABOTAGE as string,
      SINK_SABOTAGES,
    );
    let brokers = knobs.KAFKA_BROKERS as string[];
    let s3 = s3FromEnv();
    if (brokers.length === 0 || !s3) {
      const endpoints = await stackEndpoints(args.stack, "brokers or S3 (KAFKA_BROKERS, S3_*)");
      if (brokers.length === 0) brokers = endpoints.kafka.bootstrap.split(",");
      s3 ??= endpoints.s3;
    }
    const sink = new Sink({
      brokers,
      s3,
      topic: knobs.KAFKA_TOPIC as string,
      groupId: knobs.SINK_GROUP as string,
      batch: {
        maxEvents: knobs.SINK_BATCH_EVENTS as number,
        maxBytes: knobs.SINK_BATCH_BYTES as number,
        maxAgeMs: knobs.SINK_BATCH_MAX_AGE as number,
      },
      dropEvery: knobs.SINK_DROP_EVERY as number,
      sabotage,
      gzipLevel: knobs.SINK_GZIP_LEVEL as number,
      codecWorker: knobs.SINK_CODEC_WORKER as boolean,
    });
    const metrics = serveMetrics(withProcessMetrics(sink.metrics), knobs.METRICS_PORT as number);
    const done = Promise.withResolvers<void>();
    const onSignal = () => done.resolve();
    Deno.addSignalListener("SIGTERM", onSignal);
    Deno.addSignalListener("SIGINT", onSignal);
    await sink.start();
    console.error(`sink: consuming ${sink.topic} as group ${sink.groupId}`);
    if (sabotage !== "none") console.error(`sink: SABOTAGE ${sabotage}: this sink cheats`);
    const line = new StatusLine();
    const ticker = setInterval(() => {
      const s = sink.status();
      line.show(
        `sink | consumed ${s.consumed} valid ${s.valid} dlq ${s.invalid} | batches ${s.batches} | ` +
          `lag ${s.lag} | breaker ${s.breaker}`,
      );
    }, 1000);
    await done.promise;
    clearInterval(ticker);
    line.clear();
    await sink.stop();
    await metrics.shutdown();
    const s = sink.status();
    console.error(
      `sink: stopped after ${s.consumed} records (${s.invalid} to the DLQ), ${s.batches} batches`,
    );
    return ExitCode.Pass;
  });
}
