/**
 * `deno task bench:sink [--events 1000000] [--batch-events 5000]`
 *
 * Pre-fills a topic (6 partitions, RF 3) of a local stack of its own with
 * generator events (~400 bytes), then drains it with the sink into MinIO twice,
 * each time as a new group: first with parsing and gzip on the consuming thread
 * (`codecWorker: false`), then with the default codec worker, and reports
 * where the time went (parse+validate, gzip, upload, commit). The second drain
 * also deletes the first one's objects (leftovers past its committed offset).
 * Last line, exactly: `sink_eps=<n>` (the default sink, with the worker).
 * @module
 */

import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { LocalStack } from "./local_stack.ts";
import { say } from "../lib/progress.ts";
import { waitFor } from "../lib/wait.ts";
import { Generator } from "../pipeline/generator.ts";
import { ensureTopic, kafkaClient } from "../pipeline/kafka.ts";
import { Sink } from "../pipeline/sink.ts";
import { StatusLine } from "../pipeline/status_line.ts";

const USAGE =
  "usage: deno task bench:sink [--events 1000000] [--batch-events 5000] [--base-port 31400]";

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      events: { type: "string", default: "1000000" },
      "batch-events": { type: "string", default: "5000" },
      "base-port": { type: "string", default: "31400" },
    }, USAGE);
    const events = intFlag("events", values.events, { min: 1000 })!;
    const batchEvents = intFlag("batch-events", values["batch-events"], { min: 1 })!;
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const stack = await LocalStack.up({ name: `bench-sink-${Deno.pid}`, basePort });
    try {
      const brokers = stack.endpoints.kafka.bootstrap.split(",");
      const kafka = kafkaClient(brokers, "bench-sink");
      const topic = "bench-sink";
      await ensureTopic(kafka, topic, { partitions: 6 });
      say(`pre-filling ${events} events`);
      const stop = new AbortController();
      const gen = new Generator({
        brokers,
        topic,
        eps: 1_000_000,
        workers: 4,
        batchSize: 2000,
        durationMs: 3_600_000,
        seed: "bench-sink",
        kafka,
      });
      const line = new StatusLine({ everyMs: 10_000 });
      const ticker = setInterval(() => {
        const s = gen.status();
        line.show(`pre-fill: ${s.acked}/${events} acked, ${s.acked_eps} ev/s`);
        if (s.acked >= events) stop.abort();
      }, 200);
      const ledger = await gen.run(stop.signal);
      clearInterval(ticker);
      line.clear();
      const total = ledger.totals().acked;
      say(`pre-filled ${total} events; draining with the sink (batches of ${batchEvents})`);

      const admin = kafka.admin();
      await admin.connect();
      const end = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
      const drain = async (codecWorker: boolean) => {
        const groupId = `bench-sink-${codecWorker ? "worker" : "inline"}`;
        const sink = new Sink({
          brokers,
          s3: stack.endpoints.s3,
          topic,
          groupId,
          batch: { maxEvents: batchEvents },
          codecWorker,
        });
        const t0 = performance.now();
        await sink.start();
        await waitFor(async () => {
          const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
          const done = offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
          line.show(`drain (${groupId}): ${done}/${end} committed`);
          return done >= end;
        }, { what: "the sink to drain the topic", timeoutMs: 1_800_000, intervalMs: 250 });
        const secs = (performance.now() - t0) / 1000;
        line.clear();
        await sink.stop();
        const p = sink.profile;
        const s = (ms: number) => (ms / 1000).toFixed(1);
        console.log(
          `${groupId}: drained ${end} records in ${secs.toFixed(1)} s (${
            (end / secs).toFixed(0)
          }/s); ${codecWorker ? "waits for the worker: " : ""}parse+validate ${
            s(p.parse_ms)
          } s, gzip ${s(p.gzip_ms)} s; upload ${s(p.upload_ms)} s, commit ${
            s(p.commit_ms)
          } s (summed over 6 partitions; the rest is fetching and decoding)`,
        );
        return end / secs;
      };
      const inline = await drain(false);
      const worker = await drain(true);
      await admin.disconnect();
      console.log(`codec worker vs inline: ${(worker / inline).toFixed(2)}x`);
      console.log(`sink_eps=${worker.toFixed(0)}`);
      return ExitCode.Pass;
    } finally {
      await stack.down();
    }
  });
}
