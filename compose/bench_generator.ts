/**
 * `deno task bench:generator [--seconds 30] [--workers 4] [--batch-size 8000]`
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
 * Last line, exactly: `generator_eps=<n> perf_test_eps=<n> ratio=<r>`.
 * @module
 */

import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { LocalStack } from "./local_stack.ts";
import { provision } from "./provision.ts";
import { say } from "../lib/progress.ts";
import { Generator } from "../pipeline/generator.ts";
import { MAX_GROUP_BYTES } from "../pipeline/generator_loop.ts";
import { DEFAULT_KAFKA_CLIENT, type KafkaClientKind } from "../pipeline/producer_client.ts";
import { ensureTopic, kafkaClient } from "../pipeline/kafka.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";

/** Left out at the start of every measurement (JVM and connection warm-up). */
const SKIP_SECONDS = 5;

const USAGE =
  "usage: deno task bench:generator [--seconds 30] [--workers 4] [--batch-size 8000] [--base-port 31200]";

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
      workers: { type: "string", default: "4" },
      "batch-size": { type: "string", default: "8000" },
      "base-port": { type: "string", default: "31200" },
    }, USAGE);
    const seconds = intFlag("seconds", values.seconds, { min: 5, max: 600 })!;
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
      const kafka = kafkaClient(brokers, "bench");
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

      /**
       * The generator at an unreachable target: acknowledged events/s over `seconds`, after a
       * first 5 s left out (as ProducerPerformance's first window is).
       */
      const generatorEps = async (client: KafkaClientKind, runSeconds = seconds) => {
        const topic = `bench-generator-${client}`;
        await ensureTopic(kafka, topic, { partitions: 6 });
        say(`generator on ${client}: ${workers} workers, batch ${batchSize}, 5 + ${runSeconds} s`);
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
        say(
          `generator on ${client}: acked ${t.acked - mark.acked} in the last ${
            secs.toFixed(1)
          } s (failed ${t.failed}, unknown ${t.unknown} in all)`,
        );
        return (t.acked - mark.acked) / secs;
      };
      // The brokers' JIT warms up on whoever comes first: a short run first, for neither client.
      say("warming the brokers up");
      await generatorEps(DEFAULT_KAFKA_CLIENT, 5);
      const kafkajsEps = await generatorEps("kafkajs");
      const platformaticEps = await generatorEps("platformatic");
      // The last line reports the generator as it runs by default.
      const chosenEps = DEFAULT_KAFKA_CLIENT === "platformatic" ? platformaticEps : kafkajsEps;

      await ensureTopic(kafka, "bench-perf", { partitions: 6 });
      say(`ProducerPerformance: record size ${recordSize}, acks=all, idempotence, ${seconds} s`);
      const perf = (extraProps: string[] = []) =>
        perfTest(
          bins.java,
          bins.kafkaClasspath,
          stack.endpoints.kafka.bootstrap,
          "bench-perf",
          recordSize,
          seconds,
          extraProps,
        );
      const perfEps = await perf();
      say(`ProducerPerformance, batch.size=${MAX_GROUP_BYTES} linger.ms=20: ${seconds} s`);
      const perfBatchedEps = await perf([
        `batch.size=${MAX_GROUP_BYTES}`,
        "linger.ms=20",
        "buffer.memory=67108864",
      ]);
      console.log(`generator on kafkajs: ${kafkajsEps.toFixed(0)} events/s acknowledged`);
      console.log(
        `generator on @platformatic/kafka: ${platformaticEps.toFixed(0)} events/s acknowledged`,
      );
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
