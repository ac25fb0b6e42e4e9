/**
 * Kafka's own `org.apache.kafka.tools.ConsumerPerformance` over a topic: the fair reference of
 * the audit's benchmark (bench_audit.ts), reading the same records from the same brokers, a
 * consumer of the JVM's own. Its rate is its `fetch.nMsg.sec` (the records over the time it
 * fetched, its group's join left out); its CPU is its JVM's, read from `/proc` until it exits (the
 * JVM's start-up included, as the audit's workers' start-up is in the audit's).
 *
 * ```ts
 * const ref = await consumerPerf(java, classpath, "127.0.0.1:24001", "audit-bench", 1_500_000);
 * ref.rps; ref.cpuPerMillion;
 * ```
 * @module
 */

import { parseProcStat } from "../compose/cpu.ts";
import { kafkaToolProperties, securityFor } from "../pipeline/kafka_security.ts";

/** A reference's figures: records/s and CPU-s per million records. */
export interface ConsumerPerfResult {
  rps: number;
  cpuPerMillion: number;
}

/**
 * `fetch.nMsg.sec` of ConsumerPerformance's CSV line (the last column of ten): undefined when the
 * output holds no such line. Pure.
 */
export function fetchRate(output: string): number | undefined {
  for (const line of output.trim().split("\n").reverse()) {
    const cells = line.split(",").map((c) => c.trim());
    if (cells.length >= 10 && /^\d/.test(cells[0]) && Number.isFinite(Number(cells[9]))) {
      return Number(cells[9]);
    }
  }
  return undefined;
}

/** Runs ConsumerPerformance over `records` records of `topic` from its start. */
export async function consumerPerf(
  java: string,
  classpath: string,
  bootstrap: string,
  topic: string,
  records: number,
): Promise<ConsumerPerfResult> {
  // The stack's harness user (the local stack asks for SCRAM: compose/kafka_scram.ts).
  const security = kafkaToolProperties(securityFor(bootstrap));
  const config = await Deno.makeTempFile({ suffix: ".properties" });
  await Deno.writeTextFile(config, `${security ?? ""}\nauto.offset.reset=earliest\n`, {
    mode: 0o600,
  });
  const child = new Deno.Command(java, {
    args: [
      "-Xmx512m",
      "-cp",
      classpath,
      "org.apache.kafka.tools.ConsumerPerformance",
      "--bootstrap-server",
      bootstrap,
      "--topic",
      topic,
      "--messages",
      String(records),
      "--group",
      `consumer-perf-${crypto.randomUUID()}`,
      "--timeout",
      "60000",
      "--consumer.config",
      config,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let cpu = 0;
  const poll = setInterval(() => {
    Deno.readTextFile(`/proc/${child.pid}/stat`).then(
      (line) => (cpu = parseProcStat(line)?.cpuS ?? cpu),
      () => {},
    );
  }, 100);
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const rps = fetchRate(stdout);
    if (!out.success || rps === undefined) {
      throw new Error(
        `ConsumerPerformance failed (exit ${out.code}): ${
          new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ") || stdout
        }`,
      );
    }
    return { rps, cpuPerMillion: cpu / (records / 1e6) };
  } finally {
    clearInterval(poll);
    await Deno.remove(config).catch(() => {});
  }
}
