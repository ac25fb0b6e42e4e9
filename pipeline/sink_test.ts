/**
 * The sink against the real stack: 100,000 events with 1% malformed, the sink
 * SIGKILLed three times mid-consumption and restarted; afterwards every valid
 * acknowledged seq is in events/ exactly once, every malformed one in dlq/ only.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Admin } from "kafkajs";
import { slow, testStack } from "../compose/testing.ts";
import { waitFor } from "../compose/wait.ts";
import { scanStore } from "../validate/store_scan.ts";
import { Generator } from "./generator.ts";
import { ensureTopic, kafkaClient } from "./kafka.ts";
import { objectStore } from "./store.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

async function committed(admin: Admin, groupId: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  return offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function endOffsets(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((s, p) => s + Number(p.high), 0);
}

Deno.test(
  { name: "sink: SIGKILLed three times, every event stored exactly once", ...slow },
  async () => {
    const { stack, release } = await testStack();
    const brokers = stack.endpoints.kafka.bootstrap.split(",");
    const kafka = kafkaClient(brokers, "sink-test");
    const topic = `sink-test-${Date.now().toString(36)}`;
    const group = `${topic}-sink`;
    const admin = kafka.admin();
    await admin.connect();
    const children: Deno.ChildProcess[] = [];
    const startSink = () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "pipeline/cli_sink.ts",
          "--brokers",
          brokers.join(","),
          "--topic",
          topic,
          "--group",
          group,
          "--batch-events",
          "3000",
          "--batch-age",
          "500ms",
        ],
        cwd: root,
        env: {
          S3_ENDPOINT: stack.endpoints.s3.endpoint,
          S3_ACCESS_KEY: stack.endpoints.s3.accessKey,
          S3_SECRET_KEY: stack.endpoints.s3.secretKey,
          S3_BUCKET: stack.endpoints.s3.bucket,
          CHAOS_QUIET: "1",
          KAFKA_LOG_LEVEL: "nothing",
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      children.push(child);
      return child;
    };
    try {
      await ensureTopic(kafka, topic, { partitions: 6 });
      const ledger = await new Generator({
        brokers,
        topic,
        eps: 12_500,
        durationMs: 9000,
        seed: "sink",
        chaosMode: true,
        malformedProb: 0.01,
        probabilities: { exfil: 0, port_scan: 0, latency_spike: 0, reset_storm: 0 },
      }).run();
      const totals = ledger.totals();
      assert.ok(
        totals.acked >= 100_000 && totals.acked === totals.attempted,
        JSON.stringify(totals),
      );
      const end = await endOffsets(admin, topic);

      for (const share of [0.15, 0.4, 0.7]) {
        const child = startSink();
        await waitFor(async () => (await committed(admin, group, topic)) >= share * end, {
          what: `the sink to commit ${share * 100}% of the topic`,
          timeoutMs: 90_000,
          intervalMs: 100,
        });
        await new Promise((r) => setTimeout(r, Math.random() * 300));
        child.kill("SIGKILL");
        await child.status;
      }
      const last = startSink();
      await waitFor(async () => (await committed(admin, group, topic)) >= end, {
        what: "the sink to commit the whole topic",
        timeoutMs: 120_000,
        intervalMs: 250,
      });
      last.kill("SIGTERM");
      assert.equal((await last.status).code, 0, "SIGTERM: flush, commit, exit 0");

      const scan = await scanStore(objectStore(stack.endpoints.s3), topic);
      console.log(
        `objects: ${scan.objects.events} events, ${scan.objects.dlq} dlq; ledger`,
        totals,
      );
      for (const [pid, p] of ledger.producers) {
        const valid = p.acked.difference(p.malformed);
        const malformed = p.acked.intersection(p.malformed);
        const events = scan.events.get(pid);
        const dlq = scan.dlq.get(pid);
        const lost = valid.difference(events?.seqs ?? valid.difference(valid));
        assert.equal(lost.size, 0, `${pid}: lost ${lost.first(10)}`);
        assert.equal(events?.duplicates.size ?? 0, 0, `${pid}: duplicates in events/`);
        const malformedInEvents = malformed.intersection(events!.seqs);
        assert.equal(malformedInEvents.size, 0, `${pid}: malformed in events/`);
        const missingDlq = malformed.difference(dlq?.seqs ?? malformed.difference(malformed));
        assert.equal(missingDlq.size, 0, `${pid}: malformed not in dlq/: ${missingDlq.first(10)}`);
        assert.equal(dlq?.duplicates.size ?? 0, 0, `${pid}: duplicates in dlq/`);
      }
      assert.equal(scan.unreadable, 0);
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await admin.disconnect();
      await release();
    }
  },
);
