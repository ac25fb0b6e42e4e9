/**
 * `deno task bench:scale [--sizes 1,5,20] [--quick] [--partitions 6] [--producers 8]`
 *
 * How the verdict grows with a run's size: for each size (millions of events)
 * a synthetic run (_scale_source.ts: realistic events, 6 partitions, 8
 * producers, the sink's object layout, gzip NDJSON objects of 5,000 events) is
 * stored in a MinIO of its own, then the verdict is timed: the audit's tabling
 * of the topic on every core (the audit's own workers and merge, fed by the
 * synthetic source instead of Kafka: no pipeline, so 20 million events fit a
 * benchmark's budget) plus the store check and the completeness check, as a
 * run's verdict does them. Each size runs in a process of its own, so its
 * peak RSS (`VmHWM`: the harness's high-water mark, workers included) is its
 * own. `--quick`: sizes 0.2, 0.5 and 1.
 *
 * Prints per size the verdict's wall time, the peak RSS and the cost per
 * event; then a fair reference: what the table's columns cost by design
 * (topic_table.ts `TABLE_BYTES_PER_RECORD`) and one `JSON.parse` of every
 * event on one thread (the least any check of the events does once); last
 * line, exactly: `verdict_s_per_million=<s> rss_mb_per_million=<mb>` (the
 * least-squares slopes over the sizes: how each grows).
 * @module
 */

import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { say } from "../lib/progress.ts";
import { ownRssMb } from "../compose/cpu.ts";
import { serveStore } from "../compose/store_server.ts";
import { batchKey } from "../pipeline/batcher.ts";
import { Ledger } from "../pipeline/ledger.ts";
import { objectStore } from "../pipeline/store.ts";
import { checkCompleteness } from "./completeness.ts";
import { randomAuditKey } from "./digest.ts";
import { inWorkers, partitionGroups, workerCount } from "./kafka_audit.ts";
import { ScaleSource } from "./_scale_source.ts";
import type { ScaleRequest } from "./_scale_worker.ts";
import { checkStore } from "./store_check.ts";
import { TABLE_BYTES_PER_RECORD, tableSlab, TopicTableBuilder } from "./topic_table.ts";

const USAGE = "usage: deno task bench:scale [--sizes 1,5,20] [--quick] " +
  "[--partitions 6] [--producers 8]";
const TOPIC = "network-telemetry";
const PER_OBJECT = 5000;
const MAX_MILLIONS = 200;

/** One size's figures, as its process prints them (`scale_result {...}`). */
export interface ScaleResult {
  events: number;
  workers: number;
  tabling_s: number;
  store_check_s: number;
  verdict_s: number;
  verdict: string;
  /** Peak RSS of the process (VmHWM), and RSS before the verdict (set-up done). */
  peak_rss_mb: number;
  before_rss_mb: number;
}

/** `--sizes`: millions of events, positive, at most MAX_MILLIONS, each once, ascending. */
export function parseSizes(text: string): number[] {
  const sizes = text.split(",").map((s) => s.trim());
  const out = sizes.map((s) => {
    const n = Number(s);
    if (s === "" || !Number.isFinite(n) || n <= 0 || n > MAX_MILLIONS) {
      throw new UsageError(
        `--sizes takes millions of events in (0, ${MAX_MILLIONS}], comma separated; got "${s}"`,
      );
    }
    if (Math.round(n * 1e6) < PER_OBJECT) {
      throw new UsageError(`--sizes: ${s} million is fewer than ${PER_OBJECT} events`);
    }
    return n;
  });
  if (new Set(out).size !== out.length) throw new UsageError(`--sizes names a size twice: ${text}`);
  return out.sort((a, b) => a - b);
}

/** The least-squares slope of ys over xs (one point: y/x, the line through the origin). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length || xs.length === 0) throw new RangeError("slope of no points");
  if (xs.length === 1) return ys[0] / xs[0];
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  const my = ys.reduce((s, y) => s + y, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? my / mx : num / den;
}

/** The process's resident set (`VmRSS`) or its peak (`VmHWM`), in MB (2^20 bytes). */
function rssMb(field: "VmRSS" | "VmHWM"): number {
  return ownRssMb(field) ?? Deno.memoryUsage().rss / 2 ** 20;
}

/**
 * One size: stores the run, then times its verdict. The set-up is not timed; the verdict is
 * tabling (workers) + store check + completeness, as a run's.
 */
export async function scaleOnce(
  events: number,
  options: { partitions?: number; producers?: number; workers?: number } = {},
): Promise<ScaleResult> {
  const source = new ScaleSource({ events, ...options });
  const dir = await Deno.makeTempDir({ prefix: "bench-scale-" });
  const server = await serveStore(dir);
  try {
    const store = objectStore(server.s3);
    await store.client.makeBucket(store.bucket);
    let uploads: Promise<void>[] = [];
    const t0 = performance.now();
    for (let p = 0; p < source.partitions; p++) {
      const count = source.countOn(p);
      for (let first = 0; first < count; first += PER_OBJECT) {
        const last = Math.min(count, first + PER_OBJECT) - 1;
        const lines: string[] = [];
        for (let o = first; o <= last; o++) lines.push(source.line(p, o));
        const body = gzipSync(Buffer.from(lines.join("\n") + "\n"), { level: 1 });
        uploads.push(
          store.putBytes(batchKey("events", TOPIC, p, first, last), body, "application/x-ndjson"),
        );
        if (uploads.length >= 8) {
          await Promise.all(uploads);
          uploads = [];
        }
      }
      say(`stored partition ${p + 1}/${source.partitions} (${events} events)`);
    }
    await Promise.all(uploads);
    const ledger = new Ledger({ run_id: "bench-scale", topic: TOPIC, seed: "bench" });
    for (let w = 0; w < source.producers; w++) {
      const seqs = source.seqsOf(w);
      if (seqs === 0) continue;
      ledger.attempt(source.producerId(w), 0, seqs - 1);
      ledger.ack(source.producerId(w), 0, seqs - 1);
    }
    say(`stored ${events} events in ${((performance.now() - t0) / 1000).toFixed(1)} s; verdict`);

    const before = rssMb("VmRSS");
    const started = performance.now();
    const ranges = Array.from(
      { length: source.partitions },
      (_, p) => ({ partition: p, low: 0, high: source.countOn(p) }),
    );
    const workers = workerCount(options.workers, ranges.length);
    const key = randomAuditKey();
    const shape = { events, partitions: source.partitions, producers: source.producers };
    // As the audit: the table's columns allocated once, written by the workers in place.
    const slab = tableSlab(ranges);
    if (!slab) throw new RangeError(`${events} events are too many for one table`);
    const builder = new TopicTableBuilder(key, slab);
    const answers = await inWorkers<ScaleRequest>(
      partitionGroups(ranges, workers),
      (partitions) => ({ shape, key, partitions, slab }),
      {
        deadline: Date.now() + 3_600_000,
        workerUrl: new URL("./_scale_worker.ts", import.meta.url),
      },
    );
    for (const a of answers) builder.adopt(a.report!);
    const table = builder.finish();
    const tabled = performance.now();
    const stored = await checkStore(store, TOPIC, table);
    const result = checkCompleteness(ledger, table, stored, { minAcked: events });
    const done = performance.now();
    if (result.verdict !== "pass" || result.found !== events) {
      throw new Error(
        `the verdict did not find the ${events} stored events (${result.verdict}, found ` +
          `${result.found}): ${result.reasons.join("; ")}`,
      );
    }
    return {
      events,
      workers,
      tabling_s: (tabled - started) / 1000,
      store_check_s: (done - tabled) / 1000,
      verdict_s: (done - started) / 1000,
      verdict: result.verdict,
      peak_rss_mb: rssMb("VmHWM"),
      before_rss_mb: before,
    };
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Runs one size in a process of its own (its own peak RSS); its result line parsed. */
async function inProcess(events: number, flags: string[]): Promise<ScaleResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--one", String(events), ...flags],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("scale_result "));
  if (!out.success || !line) {
    throw new Error(`the scale run of ${events} events failed (exit ${out.code}): ${text.trim()}`);
  }
  return JSON.parse(line.slice("scale_result ".length)) as ScaleResult;
}

/** Seconds per million events of one `JSON.parse` per event on this thread (the reference). */
function parseReference(source: ScaleSource): number {
  const n = Math.min(200_000, source.events);
  const lines = Array.from({ length: n }, (_, i) => source.line(i % source.partitions, i));
  const t0 = performance.now();
  let keep = 0;
  for (const l of lines) keep += (JSON.parse(l) as { seq: number }).seq & 1;
  const s = (performance.now() - t0) / 1000;
  if (keep < 0) console.log(keep);
  return s / (n / 1e6);
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      sizes: { type: "string" },
      quick: { type: "boolean", default: false },
      partitions: { type: "string", default: "6" },
      producers: { type: "string", default: "8" },
      workers: { type: "string" },
      one: { type: "string" },
    }, USAGE);
    const partitions = intFlag("partitions", values.partitions, { min: 1, max: 1000 })!;
    const producers = intFlag("producers", values.producers, { min: 1, max: 1000 })!;
    const workers = intFlag("workers", values.workers, { min: 1, max: 256 });
    const shape = { partitions, producers, ...(workers ? { workers } : {}) };
    if (values.one !== undefined) {
      const events = intFlag("one", values.one, { min: 1, max: MAX_MILLIONS * 1e6 })!;
      console.log(`scale_result ${JSON.stringify(await scaleOnce(events, shape))}`);
      return ExitCode.Pass;
    }
    if (values.quick && values.sizes !== undefined) {
      throw new UsageError(`--quick and --sizes are one or the other\n${USAGE}`);
    }
    const sizes = parseSizes(values.quick ? "0.2,0.5,1" : values.sizes ?? "1,5,20");
    const flags = [
      `--partitions=${partitions}`,
      `--producers=${producers}`,
      ...(workers ? [`--workers=${workers}`] : []),
    ];
    const results: ScaleResult[] = [];
    for (const millions of sizes) {
      const r = await inProcess(Math.round(millions * 1e6), flags);
      results.push(r);
      console.log(
        `${(r.events / 1e6).toFixed(2)} M events: verdict ${r.verdict_s.toFixed(2)} s ` +
          `(tabling ${r.tabling_s.toFixed(2)} s on ${r.workers} workers, store check ` +
          `${r.store_check_s.toFixed(2)} s), ${Math.round(r.events / r.verdict_s)} events/s, ` +
          `${(r.verdict_s / r.events * 1e6).toFixed(2)} µs/event; peak RSS ` +
          `${r.peak_rss_mb.toFixed(0)} MB (${(r.peak_rss_mb * 2 ** 20 / r.events).toFixed(0)} ` +
          `B/event all in; ${r.before_rss_mb.toFixed(0)} MB before the verdict): ${r.verdict}`,
      );
    }
    const millions = results.map((r) => r.events / 1e6);
    const parse = parseReference(new ScaleSource({ events: 200_000, partitions, producers }));
    console.log(
      `reference: the table's columns ${TABLE_BYTES_PER_RECORD} B/event = ${
        (TABLE_BYTES_PER_RECORD * 1e6 / 2 ** 20).toFixed(1)
      } MB per million; one JSON.parse per event on one thread ${parse.toFixed(2)} s per million`,
    );
    console.log(
      `verdict_s_per_million=${slope(millions, results.map((r) => r.verdict_s)).toFixed(2)} ` +
        `rss_mb_per_million=${slope(millions, results.map((r) => r.peak_rss_mb)).toFixed(1)}`,
    );
    return ExitCode.Pass;
  });
}
