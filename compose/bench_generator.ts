/**
 * `deno task bench:generator [--seconds 30] [--rounds 2] [--workers 4] [--batch-size 8000] [--clients lean,platformatic] [--one-thread]`
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
 * before, labelled. The generator runs on each of its Kafka clients: those of `--clients`
 * (default: `DEFAULT_KAFKA_CLIENT`) every round, the others once; the last line reports the first
 * of `--clients`. `--one-thread`: every worker on the generator's own thread (`threads: false`).
 *
 * The machine is shared and its speed varies: every measurement also gives its CPU-s per million
 * events (the generator's whole process, every thread; ProducerPerformance's JVM), which moves less
 * with the load than the rates do; the line before the last compares them.
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
import {
  DEFAULT_KAFKA_CLIENT,
  KAFKA_CLIENTS,
  type KafkaClientKind,
  kafkaClientKind,
} from "../pipeline/producer_client.ts";
import process from "node:process";
import { logLevel } from "kafkajs";
import { kafkaToolProperties, securityFor } from "../pipeline/kafka_security.ts";
import { ensureTopic, kafkaClient } from "../pipeline/kafka.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";

/** Left out at the start of every measurement (JVM and connection warm-up). */
const SKIP_SECONDS = 5;

const USAGE =
  "usage: deno task bench:generator [--seconds 30] [--rounds 2] [--workers 4] [--batch-size 8000] [--clients platformatic] [--one-thread] [--base-port 31200]";

/** A measurement: events (records) per second and CPU-s per million of them. */
interface Measured {
  eps: number;
  cpuPerMillion: number;
}

/** CPU seconds (user + system) a process used so far, from `/proc` (clock ticks of 10 ms). */
async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** This process's CPU seconds so far, every thread. */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Runs ProducerPerformance for `seconds`: the mean records/s of its window reports, and its CPU
 * per million records over the windows after the first counted one.
 */
async function perfTest(
  java: string,
  classpath: string,
  bootstrap: string,
  topic: string,
  recordSize: number,
  seconds: number,
  extraProps: string[] = [],
): Promise<Measured> {
  // The stack's harness user (the local stack asks for SCRAM: compose/kafka_scram.ts).
  const security = kafkaToolProperties(securityFor(bootstrap));
  const config = security ? await Deno.makeTempFile({ suffix: ".properties" }) : undefined;
  if (config) await Deno.writeTextFile(config, security!, { mode: 0o600 });
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
      ...(config ? ["--producer.config", config] : []),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const rates: number[] = [];
  const cpu: number[] = [];
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
        if (m && performance.now() - started > 6000) {
          rates.push(Number(m[1]));
          cpu.push(await processCpuSeconds(child.pid).catch(() => Number.NaN));
        }
        if (rates.length >= Math.max(1, Math.floor(seconds / 5))) child.kill("SIGTERM");
      }
    }
  } finally {
    clearTimeout(stopAt);
    await child.status;
    if (config) await Deno.remove(config).catch(() => {});
  }
  if (rates.length === 0) throw new Error("ProducerPerformance reported nothing");
  // Its windows are 5 s: the records of those after the first, against the CPU between them.
  const records = rates.slice(1).reduce((a, b) => a + b * 5, 0);
  return {
    eps: rates.reduce((a, b) => a + b, 0) / rates.length,
    cpuPerMillion: records > 0 ? (cpu[cpu.length - 1] - cpu[0]) / (records / 1e6) : Number.NaN,
  };
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      seconds: { type: "string", default: "30" },
      rounds: { type: "string", default: "2" },
      workers: { type: "string", default: "4" },
      "batch-size": { type: "string", default: "8000" },
      "base-port": { type: "string", default: "31200" },
      clients: { type: "string", default: DEFAULT_KAFKA_CLIENT },
      "one-thread": { type: "boolean", default: false },
    }, USAGE);
    const clients = values.clients.split(",").map((c) => kafkaClientKind(c.trim(), "--clients"));
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
        onFreshTopic(async (topic): Promise<Measured> => {
          say(
            `generator on ${client}: ${workers} workers${
              values["one-thread"] ? " on one thread" : ""
            }, batch ${batchSize}, 5 + ${runSeconds} s`,
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
            threads: !values["one-thread"],
          });
          let mark: { acked: number; at: number; cpu: number } | undefined;
          const ticker = setInterval(() => {
            const s = generator.status();
            if (!mark && s.elapsed_s >= SKIP_SECONDS) {
              mark = { acked: s.acked, at: Date.now(), cpu: ownCpuSeconds() };
            }
          }, 100);
          let ledger;
          try {
            ledger = await generator.run();
          } finally {
            clearInterval(ticker);
          }
          const cpuEnd = ownCpuSeconds();
          const t = ledger.totals();
          if (!mark) throw new Error(`the generator on ${client} ended within ${SKIP_SECONDS} s`);
          const secs = (ledger.meta.ended_at_ms! - mark.at) / 1000;
          const eps = (t.acked - mark.acked) / secs;
          const cpuPerMillion = (cpuEnd - mark.cpu) / ((t.acked - mark.acked) / 1e6);
          say(
            `generator on ${client}: ${eps.toFixed(0)} events/s, ${
              cpuPerMillion.toFixed(2)
            } CPU-s per million (acked ${t.acked - mark.acked} in the last ${
              secs.toFixed(1)
            } s; failed ${t.failed}, unknown ${t.unknown} in all)`,
          );
          return { eps, cpuPerMillion };
        });
      const perf = (label: string, extraProps: string[] = []) =>
        onFreshTopic(async (topic) => {
          say(`ProducerPerformance ${label}: record size ${recordSize}, acks=all, idempotence`);
          const m = await perfTest(
            bins.java,
            bins.kafkaClasspath,
            stack.endpoints.kafka.bootstrap,
            topic,
            recordSize,
            seconds,
            extraProps,
          );
          say(
            `ProducerPerformance ${label}: ${m.eps.toFixed(0)} records/s, ${
              m.cpuPerMillion.toFixed(2)
            } CPU-s per million`,
          );
          return m;
        });
      const batched = [`batch.size=${MAX_GROUP_BYTES}`, "linger.ms=20", "buffer.memory=67108864"];

      // The brokers' JIT warms up on whoever comes first: a short run first, for neither client.
      say("warming the brokers up");
      await generatorEps(clients[0], 5);
      const once = new Map<KafkaClientKind, Measured>();
      for (const client of KAFKA_CLIENTS) {
        if (!clients.includes(client)) once.set(client, await generatorEps(client));
      }
      const shipped = await perf("as Kafka ships it");
      const byClient = new Map<KafkaClientKind, Measured[]>(clients.map((c) => [c, []]));
      const fair: Measured[] = [];
      for (let round = 1; round <= rounds; round++) {
        say(`round ${round} of ${rounds}`);
        for (const client of clients) byClient.get(client)!.push(await generatorEps(client));
        fair.push(
          await perf(`batched as the generator (${MAX_GROUP_BYTES} B, 20 ms linger)`, batched),
        );
      }
      const eps = (xs: Measured[]) => median(xs.map((x) => x.eps))!;
      const cpu = (xs: Measured[]) => median(xs.map((x) => x.cpuPerMillion))!;
      const list = (xs: Measured[]) =>
        xs.map((x) => `${x.eps.toFixed(0)} (${x.cpuPerMillion.toFixed(2)})`).join(", ");
      for (const [client, m] of once) {
        console.log(
          `generator on ${client}: ${m.eps.toFixed(0)} events/s acknowledged (${
            m.cpuPerMillion.toFixed(2)
          } CPU-s per million)`,
        );
      }
      for (const [client, ms] of byClient) {
        console.log(
          `generator on ${client}: ${list(ms)} events/s acknowledged (CPU-s per million) by round`,
        );
      }
      console.log(
        `ProducerPerformance batched as the generator: ${
          list(fair)
        } records/s (CPU-s per million) by round`,
      );
      const chosen = byClient.get(clients[0])!;
      const chosenEps = eps(chosen);
      const perfBatchedEps = eps(fair);
      console.log(
        `ProducerPerformance as Kafka ships it (16 KiB batches, 5 ms linger): ${
          shipped.eps.toFixed(0)
        } records/s (flattering ratio, generator/this: ${(chosenEps / shipped.eps).toFixed(2)})`,
      );
      console.log(
        `generator_cpu_s_per_million=${cpu(chosen).toFixed(2)} perf_test_cpu_s_per_million=${
          cpu(fair).toFixed(2)
        } cpu_ratio=${(cpu(fair) / cpu(chosen)).toFixed(2)} (perf test/generator, medians; ${
          clients[0]
        })`,
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
