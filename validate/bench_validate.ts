/**
 * `deno task bench:validate [--events 10000000] [--producers 8] [--workers N]`
 *
 * Stores a run of `--events` events (about 400 bytes each, in the sink's own
 * object layout: 6 partitions, gzip NDJSON objects of 5,000 events named by
 * offset range) in a MinIO of its own, with the matching ledger and topic
 * table, then times the validator over it: the store check (every line resolved
 * to its topic record, content digests, offset tiling) plus the completeness
 * check, three rounds, the median reported. The audit's tabling of the topic
 * (parse, schema, digests) is timed apart and printed. Writing
 * 10 million events through Kafka would take far longer than checking them,
 * so the objects are written directly.
 *
 * Last line, exactly: `validate_eps=<n>`.
 * @module
 */

import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { say } from "../lib/progress.ts";
import { serveStore } from "../compose/store_server.ts";
import { batchKey } from "../pipeline/batcher.ts";
import { Ledger } from "../pipeline/ledger.ts";
import { Rng } from "../pipeline/rng.ts";
import { objectStore } from "../pipeline/store.ts";
import { baselineFlow } from "../pipeline/traffic.ts";
import { checkCompleteness } from "./completeness.ts";
import { checkStore } from "./store_check.ts";
import { TopicTableBuilder } from "./topic_table.ts";
import { median } from "../lib/stats.ts";

const USAGE = "usage: deno task bench:validate [--events 10000000] [--producers 8] [--workers N]";
const TOPIC = "network-telemetry";
const PARTITIONS = 6;
const PER_OBJECT = 5000;
const ROUNDS = 3;

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      events: { type: "string", default: "10000000" },
      producers: { type: "string", default: "8" },
      // The store check's threads (default: store_check.ts's, one per core up to 4).
      workers: { type: "string" },
    }, USAGE);
    const events = intFlag("events", values.events, { min: PER_OBJECT })!;
    const producers = intFlag("producers", values.producers, { min: 1, max: 1000 })!;
    const workers = intFlag("workers", values.workers, { min: 1, max: 64 });
    const dir = await Deno.makeTempDir({ prefix: "bench-validate-" });
    const server = await serveStore(dir);
    try {
      const store = objectStore(server.s3);
      await store.client.makeBucket(store.bucket);
      const rng = new Rng("bench-validate");
      // 5,000 realistic flows, reused with every producer and seq (keeps the set-up quick).
      const flows = Array.from(
        { length: PER_OBJECT },
        () => JSON.stringify(baselineFlow(rng)).slice(1),
      );
      const ledger = new Ledger({ run_id: "bench-validate", topic: TOPIC, seed: "bench" });
      // The topic as the audit tables it (timed apart: the audit's own share of the work).
      const topic = new TopicTableBuilder();
      let tablingMs = 0;
      const nextSeq = new Array(producers).fill(0);
      const offsets = new Array(PARTITIONS).fill(0);
      const pending: string[][] = Array.from({ length: PARTITIONS }, () => []);
      let uploads: Promise<void>[] = [];
      let stored = 0;
      const t0 = performance.now();
      const flush = async (p: number) => {
        const lines = pending[p];
        if (lines.length === 0) return;
        pending[p] = [];
        const body = gzipSync(Buffer.from(lines.join("\n") + "\n"));
        const first = offsets[p];
        offsets[p] += lines.length;
        uploads.push(
          store.putBytes(
            batchKey("events", TOPIC, p, first, first + lines.length - 1),
            body,
            "application/x-ndjson",
          ),
        );
        stored += lines.length;
        if (uploads.length >= 8) {
          await Promise.all(uploads);
          uploads = [];
        }
        if (Math.floor(stored / PER_OBJECT) % 100 === 0) {
          say(
            `stored ${stored}/${events} events (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
          );
        }
      };
      const ts = Date.UTC(2026, 10, 22);
      for (let i = 0; i < events; i++) {
        // Producers interleave, and each one's events land on partitions by key (at random),
        // as in a real run: a producer's seqs are scattered over every partition and object.
        const w = i % producers;
        const seq = nextSeq[w]++;
        const p = rng.int(0, PARTITIONS - 1);
        const line = `{"producer_id":"bench-w${w}","seq":${seq},"ts_ms":${ts + i},${
          flows[i % PER_OBJECT]
        }`;
        const tabling = performance.now();
        topic.add(p, offsets[p] + pending[p].length, line);
        tablingMs += performance.now() - tabling;
        pending[p].push(line);
        if (pending[p].length === PER_OBJECT) await flush(p);
      }
      for (let p = 0; p < PARTITIONS; p++) await flush(p);
      await Promise.all(uploads);
      for (let w = 0; w < producers; w++) {
        if (nextSeq[w] === 0) continue;
        ledger.attempt(`bench-w${w}`, 0, nextSeq[w] - 1);
        ledger.ack(`bench-w${w}`, 0, nextSeq[w] - 1);
      }
      for (let p = 0; p < PARTITIONS; p++) topic.setBounds(p, 0, offsets[p]);
      const finishing = performance.now();
      const table = topic.finish();
      tablingMs += performance.now() - finishing;
      say(
        `stored ${events} events in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
          `the audit's tabling took ${(tablingMs / 1000).toFixed(1)} s (${
            Math.round(events / (tablingMs / 1000))
          } records/s on one thread); validating`,
      );

      // Three rounds over the same store; the median is reported (the first pays for cold
      // caches and worker start-up, and two cores shared with MinIO make single rounds noisy).
      const rates: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const started = performance.now();
        const stored = await checkStore(store, TOPIC, table, workers ? { workers } : {});
        const scanned = performance.now();
        const result = checkCompleteness(ledger, table, stored, { minAcked: events });
        const seconds = (performance.now() - started) / 1000;
        say(
          `round ${round}/${ROUNDS}: store check ${
            ((scanned - started) / 1000).toFixed(2)
          } s, check ${
            ((performance.now() - scanned) / 1000).toFixed(2)
          } s: ${result.verdict}, found ${result.found}, lost ${result.lost}, duplicates ${result.duplicates}; ${
            Math.round(events / seconds)
          } events/s`,
        );
        if (result.verdict !== "pass" || result.found !== events) {
          console.error(
            `the validator did not find the ${events} stored events: ${result.reasons.join("; ")}`,
          );
          return ExitCode.RunInvalid;
        }
        rates.push(events / seconds);
      }
      console.log(`validate_eps=${Math.round(median(rates)!)}`);
      return ExitCode.Pass;
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}
