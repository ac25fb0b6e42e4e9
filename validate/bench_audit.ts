/**
 * `deno task bench:audit [--records 1500000] [--rounds 2] [--workers N]
 *  [--base-port 24000] [--stack NAME]`
 *
 * The Kafka audit (kafka_audit.ts) timed on a real topic: a local stack of its own (3 brokers,
 * reached directly), a topic of 6 partitions, RF 3, filled with `--records` realistic events
 * (_scale_source.ts, about 400 bytes each, idempotent producer: batches carry a producer
 * session), then `auditTopic` over it `--rounds` times. Each round prints records/s, the
 * harness's CPU seconds per million records (every thread) and the brokers' (their process
 * trees), and the load average. `--stack NAME`: a stack of that name kept up between runs
 * (started detached if absent; its topic reused when already filled; `deno task down --name
 * NAME` ends it).
 *
 * Each round then reads the same topic with Kafka's own ConsumerPerformance (_consumer_perf.ts,
 * its fetch rate and its JVM's CPU): the fair reference, the same records from the same brokers.
 * Its rate leaves its JVM's start and its group's join out; the audit's includes its workers'
 * start (a thread and a Kafka client's modules each). A labelled line before the last gives the
 * audit's rate from its first worker's first read on (`audit_reading_rps`), measured as
 * ConsumerPerformance measures itself; the last line keeps the whole audit.
 *
 * Last line, exactly: `audit_rps=<median records/s> cpu_s_per_million=<harness + brokers>
 * perf_test_rps=<median> ratio=<audit_rps/perf_test_rps>`.
 * @module
 */

import process from "node:process";
import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { median } from "../lib/stats.ts";
import { LocalStack } from "../compose/local_stack.ts";
import { readProcesses, treeCpu } from "../compose/cpu.ts";
import { ensureTopic, kafkaClient } from "../pipeline/kafka.ts";
import { producerClient } from "../pipeline/producer_client.ts";
import { securityFor } from "../pipeline/kafka_security.ts";
import { ScaleSource } from "./_scale_source.ts";
import { auditTopic } from "./kafka_audit.ts";
import { auditConsumer } from "./_audit_read.ts";
import { consumerPerf } from "./_consumer_perf.ts";
import { provision } from "../compose/provision.ts";

const USAGE = "usage: deno task bench:audit [--records 1500000] [--rounds 2] " +
  "[--workers N] [--base-port 24000] [--stack NAME]";
const PARTITIONS = 6;
const PER_SEND = 2000; // about 800 kB: under the brokers' 1 MB batch limit

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function brokersCpuSeconds(stack: LocalStack): number {
  const roots = new Map<string, number>();
  for (const [name, node] of stack.nodes) {
    const pid = node.pid();
    if (name.startsWith("kafka") && pid !== undefined) roots.set(name, pid);
  }
  return [...treeCpu(readProcesses(), roots).values()].reduce((s, c) => s + c, 0);
}

async function recordsIn(brokers: string[], topic: string): Promise<number> {
  const consumer = auditConsumer(brokers, securityFor(brokers));
  try {
    const highs = await consumer.listOffsets({ topics: [topic] });
    return (highs.get(topic) ?? []).reduce((s, h) => s + Number(h), 0);
  } finally {
    await consumer.close().catch(() => {});
  }
}

async function fill(brokers: string[], topic: string, records: number): Promise<void> {
  const source = new ScaleSource({ events: records, partitions: PARTITIONS });
  const producer = producerClient("platformatic", {
    brokers,
    clientId: "bench-audit",
    idempotent: true,
    acks: -1,
    deliveryTimeoutMs: 60_000,
  });
  await producer.connect();
  await producer.warm(topic, Array.from({ length: PARTITIONS }, (_, p) => p));
  try {
    const t0 = performance.now();
    let sent = 0;
    const next = new Array(PARTITIONS).fill(0);
    let inFlight: Promise<unknown>[] = [];
    while (sent < records) {
      for (let p = 0; p < PARTITIONS; p++) {
        const count = Math.min(PER_SEND, source.countOn(p) - next[p]);
        if (count <= 0) continue;
        const messages = Array.from({ length: count }, (_, i) => ({
          topic,
          partition: p,
          key: `10.0.${p}.1`,
          value: source.line(p, next[p] + i),
        }));
        next[p] += count;
        sent += count;
        inFlight.push(producer.send(messages));
      }
      if (inFlight.length >= PARTITIONS * 2) {
        await Promise.all(inFlight);
        inFlight = [];
        console.error(
          `filled ${sent}/${records} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }
    }
    await Promise.all(inFlight);
  } finally {
    await producer.close().catch(() => {});
  }
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      records: { type: "string", default: "1500000" },
      rounds: { type: "string", default: "2" },
      workers: { type: "string" },
      "base-port": { type: "string", default: "24000" },
      stack: { type: "string" },
    }, USAGE);
    const records = intFlag("records", values.records, { min: 1000 })!;
    const rounds = intFlag("rounds", values.rounds, { min: 1, max: 20 })!;
    const workers = intFlag("workers", values.workers, { min: 1, max: 64 });
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65000 })!;
    const name = values.stack ?? `bench-audit-${Deno.pid}`;
    const kept = values.stack !== undefined;
    const bins = await provision();
    const stack = (kept ? await LocalStack.attach(name) : undefined) ??
      await LocalStack.up({
        name,
        basePort,
        binaries: bins,
        direct: true,
        owner: kept ? "detached" : "process",
      });
    try {
      const brokers = stack.endpoints.kafka.bootstrap.split(",");
      const topic = `audit-bench-${records}-2`;
      const kafka = kafkaClient(brokers, "bench-audit");
      await ensureTopic(kafka, topic, { partitions: PARTITIONS });
      const have = await recordsIn(brokers, topic);
      console.error(`${topic}: ${have} records`);
      if (have === 0) await fill(brokers, topic, records);
      else if (have !== records) throw new Error(`${topic} holds ${have} records, not ${records}`);
      const rates: number[] = [];
      const readingRates: number[] = [];
      const costs: number[] = [];
      const refs: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        const cpu0 = ownCpuSeconds();
        const brokers0 = brokersCpuSeconds(stack);
        const t0 = performance.now();
        const audit = await auditTopic(brokers, topic, workers ? { workers } : {});
        const s = (performance.now() - t0) / 1000;
        const own = ownCpuSeconds() - cpu0;
        const theirs = brokersCpuSeconds(stack) - brokers0;
        if (audit.records !== records) {
          throw new Error(`the audit tabled ${audit.records} records of ${records}`);
        }
        const m = records / 1e6;
        rates.push(records / s);
        const startup = (audit.startup_ms ?? 0) / 1000;
        readingRates.push(records / Math.max(0.001, s - startup));
        costs.push((own + theirs) / m);
        console.log(
          `round ${round}: ${records} records in ${s.toFixed(2)} s on ${audit.workers} workers: ` +
            `${Math.round(records / s)} records/s; CPU-s per million: harness ${
              (own / m).toFixed(2)
            }, brokers ${(theirs / m).toFixed(2)}; loadavg ${
              Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")
            }`,
        );
        console.log(
          `round ${round}: of it ${startup.toFixed(2)} s before the first record (offsets, the ` +
            `workers' start); from the first worker's start on ${
              Math.round(records / Math.max(0.001, s - startup))
            } records/s`,
        );
        const ref = await consumerPerf(
          bins.java,
          bins.kafkaClasspath,
          stack.endpoints.kafka.bootstrap,
          topic,
          records,
        );
        refs.push(ref.rps);
        console.log(
          `round ${round}: ConsumerPerformance (the same topic and brokers): ${
            Math.round(ref.rps)
          } records/s fetched, its JVM ${ref.cpuPerMillion.toFixed(2)} CPU-s per million`,
        );
      }
      const audit = Math.round(median(rates)!);
      const perf = Math.round(median(refs)!);
      // Measured as ConsumerPerformance measures itself (its start and group join left out), but
      // from the first worker's start, the others' start-up inside it: labelled, not the figure.
      const reading = Math.round(median(readingRates)!);
      console.log(
        `from the first record (as ConsumerPerformance counts its own): audit_reading_rps=${reading} ` +
          `ratio=${(reading / perf).toFixed(2)}`,
      );
      console.log(
        `audit_rps=${audit} cpu_s_per_million=${median(costs)!.toFixed(2)} ` +
          `perf_test_rps=${perf} ratio=${(audit / perf).toFixed(2)}`,
      );
      return ExitCode.Pass;
    } finally {
      if (!kept) await stack.down();
    }
  });
}
