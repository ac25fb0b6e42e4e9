/**
 * `deno task bench:generator [--seconds 30] [--rounds 2] [--workers 4] [--batch-size 8000]`
 *
 * Measures acknowledged events/s of the generator against a local stack of its
 * own (RF 3, acks=all, idempotence on, ~400-byte events; brokers reached
 * directly, not through Toxiproxy) and, in the same run
 * and on the same stack, Kafka's own `org.apache.kafka.tools.ProducerPerformance`
 * with the same record size, acks, idempotence and topic settings, twice: with
 * the producer's default batching (16 KiB batches, 5 ms linger) and configured
 * as the generator produces: batches as large as its produce calls
 * (`MAX_GROUP_BYTES`), no compression, acks=all, idempotence, the same record
 * size and partitions. The last line's ratio is the fair one, against the
 * second; the first, flattering one (on a small machine the brokers' cost is
 * mostly per request, so batching decides most of it) comes on the line
 * before, labelled. The generator runs on both of its Kafka clients; the last
 * line reports the default one (`DEFAULT_KAFKA_CLIENT`).
 *
 * The fair pair runs in `rounds`, the generator then ProducerPerformance each round, every
 * measurement on a topic of its own deleted after it: the brokers get slower as their logs
 * grow on disk (the same configuration measured 7 and 13 CPU-s per million events on one stack,
 * 20 s apart), so whoever always came last paid for it. The last line gives the medians.
 * Last line, exactly: `generator_eps=<n> perf_test_eps=<n> ratio=<r>`.
 * @module
 */

import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { LocalStack } from "./local_stack.ts";
import { provision } from "./provision.ts";
import { say } from "../lib/progress.ts";
import { median } from "../lib/stats.ts";
import { Generator } from "../pipeline/generator.ts";
import { MAX_GROUP_BYTES } from "../pipeline/generator_loop.ts";
import { DEFAULT_KAFKA_CLIENT, type KafkaClientKind } from "../pipeline/producer_client.ts";
import { logLevel } from "kafkajs";
import { ensureTopic, kafkaClient } from "../pipeline/kafka.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";

/** Left out at the start of every measurement (JVM and connection warm-up). */
const SKIP_SECONDS = 5;

const USAGE =
  "usage: deno task bench:generator [--seconds 30] [--rounds 2] [--workers 4] [--batch-size 8000] [--base-port 31200]";

/** Runs ProducerPerformance for `seconds` and returns the mean records/s of its window reports. */
async function perfTest(
  java: string,
  classpath: string,
  bootstrap: string,
  topic: string,
  recordSize: number,
  seconds: number,
  extraProps: string[] = [],
): Promise<number> {
  const child = new Deno.Command(java, {
    args: [
      "-Xmx512m",
      "-cp",
      classpath,
      "org.apache.kafka.tools.ProducerPerformance",
      "--topic",
      topic,
      "--num-records",
      "1000000000",
      "--record-size",
      String(recordSize),
      "--throughput",
      "-1",
      "--producer-props",
      `bootstrap.servers=${bootstrap}`,
      "acks=all",
      "enable.idempotence=true",
      ...extraProps,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const rates: number[] = [];
  const started = performance.now();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stopAt = setTimeout(() => child.kill("SIGTERM"), (seconds + 6) * 1000);
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = line.match(/records sent, ([\d.]+) records\/sec/);
        // Skip the first window (JVM warm-up, producer id), as the generator's connect is excluded too.
        if (m && performance.now() - started > 6000) rates.push(Number(m[1]));
        if (rates.length >= Math.max(1, Math.floor(seconds / 5))) child.kill("SIGTERM");
      }
    }
  } finally {
    clearTimeout(stopAt);
    await child.status;
  }
  if (rates.length === 0) throw new Error("ProducerPerformance reported nothing");
  return rates.reduce((a, b) => a + b, 0) / rates.length;
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      seconds: { type: "string", default: "30" },
      rounds: { type: "string", default: "2" },
      workers: { type: "string", default: "4" },
      "batch-size": { type: "string", default: "8000" },
      "base-port": { type: "string", default: "31200" },
    }, USAGE);
    const seconds = intFlag("seconds", values.seconds, { min: 5, max: 600 })!;
    const rounds = intFlag("rounds", values.rounds, { min: 1, max: 20 })!;
    const workers = intFlag("workers", values.workers, { min: 1, max: 64 })!;
    const batchSize = intFlag("batch-size", values["batch-size"], { min: 1, max: 100_000 })!;
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const bins = await provision();
    // Brokers advertise their own ports: neither the generator nor ProducerPerformance pays for
    // the proxies that carry the scenarios' network faults.
    const stack = await LocalStack.up({
      name: `bench-gen-${Deno.pid}`,
      basePort,
      binaries: bins,
      direct: true,
    });
    try {
      const brokers = stack.endpoints.kafka.bootstrap.split(",");
      // A topic fresh on one broker and not yet on another is retried, not worth an ERROR line.
      const kafka = kafkaClient(brokers, "bench", { logLevel: logLevel.NOTHING });
      const rng = new Rng("size");
      let bytes = 0;
      for (let i = 0; i < 2000; i++) {
        bytes += JSON.stringify({
          producer_id: "20261122T000000-abcdef-w0",
          seq: 1234567,
          ts_ms: Date.now(),
          ...baselineFlow(rng),
        }).length;
      }
      const recordSize = Math.round(bytes / 2000);
      say(`event size ~${recordSize} bytes; topics: 6 partitions, RF 3, min ISR 2`);

      let topics = 0;
      /** `measure` on a topic of its own, deleted after it (growing logs slow the brokers down). */
      const onFreshTopic = async <T>(measure: (topic: string) => Promise<T>): Promise<T> => {
        const topic = `bench-generator-${++topics}`;
        await ensureTopic(kafka, topic, { partitions: 6 });
        try {
          return await measure(topic);
        } finally {
          const admin = kafka.admin();
          await admin.connect();
          await admin.deleteTopics({ topics: [topic] }).catch(() => {});
          await admin.disconnect();
        }
      };

      /**
       * The generator at an unreachable target: acknowledged events/s over `seconds`, after a
       * first 5 s left out (as ProducerPerformance's first window is).
       */
      const generatorEps = (client: KafkaClientKind, runSeconds = seconds) =>
        onFreshTopic(async (topic) => {
          say(
            `generator on ${client}: ${workers} workers, batch ${batchSize}, 5 + ${runSeconds} s`,
          );
          const generator = new Generator({
            brokers,
            topic,
            eps: 1_000_000,
            workers,
            batchSize,
            durationMs: (runSeconds + SKIP_SECONDS) * 1000,
            seed: "bench",
            kafka,
            client,
          });
          let mark: { acked: number; at: number } | undefined;
          const ticker = setInterval(() => {
            const s = generator.status();
            if (!mark && s.elapsed_s >= SKIP_SECONDS) mark = { acked: s.acked, at: Date.now() };
          }, 100);
          let ledger;
          try {
            ledger = await generator.run();
          } finally {
            clearInterval(ticker);
          }
          const t = ledger.totals();
          if (!mark) throw new Error(`the generator on ${client} ended within ${SKIP_SECONDS} s`);
          const secs = (ledger.meta.ended_at_ms! - mark.at) / 1000;
          const eps = (t.acked - mark.acked) / secs;
          say(
            `generator on ${client}: ${eps.toFixed(0)} events/s (acked ${
              t.acked - mark.acked
            } in the last ${secs.toFixed(1)} s; failed ${t.failed}, unknown ${t.unknown} in all)`,
          );
          return eps;
        });
      const perf = (label: string, extraProps: string[] = []) =>
        onFreshTopic(async (topic) => {
          say(`ProducerPerformance ${label}: record size ${recordSize}, acks=all, idempotence`);
          const eps = await perfTest(
            bins.java,
            bins.kafkaClasspath,
            stack.endpoints.kafka.bootstrap,
            topic,
            recordSize,
            seconds,
            extraProps,
          );
          say(`ProducerPerformance ${label}: ${eps.toFixed(0)} records/s`);
          return eps;
        });
      const batched = [`batch.size=${MAX_GROUP_BYTES}`, "linger.ms=20", "buffer.memory=67108864"];

      // The brokers' JIT warms up on whoever comes first: a short run first, for neither client.
      say("warming the brokers up");
      await generatorEps(DEFAULT_KAFKA_CLIENT, 5);
      const other: KafkaClientKind = DEFAULT_KAFKA_CLIENT === "platformatic"
        ? "kafkajs"
        : "platformatic";
      const otherEps = await generatorEps(other);
      const perfEps = await perf("as Kafka ships it");
      const chosen: number[] = [];
      const fair: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        say(`round ${round} of ${rounds}`);
        chosen.push(await generatorEps(DEFAULT_KAFKA_CLIENT));
        fair.push(
          await perf(`batched as the generator (${MAX_GROUP_BYTES} B, 20 ms linger)`, batched),
        );
      }
      const chosenEps = median(chosen)!;
      const perfBatchedEps = median(fair)!;
      const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
      console.log(`generator on ${other}: ${otherEps.toFixed(0)} events/s acknowledged`);
      console.log(
        `generator on ${DEFAULT_KAFKA_CLIENT}: ${list(chosen)} events/s acknowledged by round`,
      );
      console.log(`ProducerPerformance batched as the generator: ${list(fair)} records/s by round`);
      console.log(
        `ProducerPerformance as Kafka ships it (16 KiB batches, 5 ms linger): ${
          perfEps.toFixed(0)
        } records/s (flattering ratio, generator/this: ${(chosenEps / perfEps).toFixed(2)})`,
      );
      // The fair comparison last: ProducerPerformance configured as the generator produces.
      console.log(
        `generator_eps=${chosenEps.toFixed(0)} perf_test_eps=${perfBatchedEps.toFixed(0)} ratio=${
          (chosenEps / perfBatchedEps).toFixed(2)
        }`,
      );
      return ExitCode.Pass;
    } finally {
      await stack.down();
    }
  });
}
