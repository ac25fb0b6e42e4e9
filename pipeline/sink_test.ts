/**
 * The sink against the real stack, each run checked against the generator's
 * ledger: every valid acknowledged seq in events/ exactly once, every malformed
 * one in dlq/ and only there.
 *
 * - 100,000 events with 1% malformed, the sink SIGKILLed three times;
 * - MinIO killed for 20 s mid-run;
 * - a second sink joins the group and leaves again.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Admin } from "kafkajs";
import type { LocalStack } from "../compose/local_stack.ts";
import { slow, testStack } from "../compose/testing.ts";
import { securityEnv, securityFor } from "./kafka_security.ts";
import { waitFor } from "../lib/wait.ts";
import { checkCompleteness } from "../validate/completeness.ts";
import { auditTopic } from "../validate/kafka_audit.ts";
import { checkStore } from "../validate/store_check.ts";
import { Generator } from "./generator.ts";
import { ensureTopic, kafkaClient } from "./kafka.ts";
import type { Ledger } from "./ledger.ts";
import { objectStore } from "./store.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const noIncidents = { exfil: 0, port_scan: 0, latency_spike: 0, reset_storm: 0 };

async function committed(admin: Admin, groupId: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  return offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function endOffsets(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((s, p) => s + Number(p.high), 0);
}

/** How many members `group` has now. */
async function members(admin: Admin, group: string): Promise<number> {
  const { groups } = await admin.describeGroups([group]);
  return groups[0]?.members.length ?? 0;
}

function sinkProcess(stack: LocalStack, topic: string, group: string, extra: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "pipeline/cli_sink.ts",
      "--brokers",
      stack.endpoints.kafka.bootstrap,
      "--topic",
      topic,
      "--group",
      group,
      "--batch-events",
      "3000",
      "--batch-age",
      "500ms",
      ...extra,
    ],
    cwd: root,
    env: {
      S3_ENDPOINT: stack.endpoints.s3.endpoint,
      S3_ACCESS_KEY: stack.endpoints.s3.accessKey,
      S3_SECRET_KEY: stack.endpoints.s3.secretKey,
      S3_BUCKET: stack.endpoints.s3.bucket,
      CHAOS_QUIET: "1",
      KAFKA_LOG_LEVEL: "nothing",
      // The stack's user (the local stack asks for SCRAM: compose/kafka_scram.ts).
      ...securityEnv(securityFor(stack.endpoints.kafka.bootstrap)),
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
}

function killQuietly(child: Deno.ChildProcess | undefined) {
  try {
    child?.kill("SIGKILL");
  } catch { /* already gone */ }
}

async function assertStoredExactlyOnce(stack: LocalStack, topic: string, ledger: Ledger) {
  // The harness's own verdict: the topic audited record by record, the store checked against it.
  const { table } = await auditTopic(stack.endpoints.kafka.bootstrap.split(","), topic);
  const stored = await checkStore(objectStore(stack.endpoints.s3), topic, table);
  const c = checkCompleteness(ledger, table, stored, { maxUnknownShare: 1 });
  console.log(
    `objects: ${c.objects.events} events, ${c.objects.dlq} dlq; topic ${c.in_topic}; ledger`,
    ledger.totals(),
  );
  assert.deepEqual(c.reasons, [], JSON.stringify(c.samples));
  assert.equal(c.found, c.in_topic);
  assert.equal(c.dlq_found, c.dlq_expected);
  assert.ok(c.dlq_expected > 0, "no malformed records were produced");
}

interface Fixture {
  stack: LocalStack;
  admin: Admin;
  topic: string;
  group: string;
  brokers: string[];
}

async function withTopic(name: string, fn: (f: Fixture) => Promise<void>) {
  const { stack, release } = await testStack();
  const brokers = stack.endpoints.kafka.bootstrap.split(",");
  const kafka = kafkaClient(brokers, "sink-test");
  const topic = `${name}-${Date.now().toString(36)}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopic(kafka, topic, { partitions: 6 });
    await fn({ stack, admin, topic, group: `${topic}-sink`, brokers });
  } finally {
    await admin.disconnect();
    await release();
  }
}

Deno.test(
  { name: "sink: SIGKILLed three times, every event stored exactly once", ...slow },
  () =>
    withTopic("sink-crash", async ({ stack, admin, topic, group, brokers }) => {
      const ledger = await new Generator({
        brokers,
        topic,
        eps: 12_500,
        durationMs: 12_000, // room above the 100,000 asked for, also on a cold stack
        seed: "sink",
        chaosMode: true,
        malformedProb: 0.01,
        probabilities: noIncidents,
      }).run();
      const totals = ledger.totals();
      assert.ok(
        totals.acked >= 100_000 && totals.acked === totals.attempted,
        JSON.stringify(totals),
      );
      const end = await endOffsets(admin, topic);
      let child: Deno.ChildProcess | undefined;
      try {
        for (const share of [0.15, 0.4, 0.7]) {
          child = sinkProcess(stack, topic, group);
          await waitFor(async () => (await committed(admin, group, topic)) >= share * end, {
            what: `the sink to commit ${share * 100}% of the topic`,
            timeoutMs: 90_000,
            intervalMs: 100,
          });
          await new Promise((r) => setTimeout(r, Math.random() * 300));
          child.kill("SIGKILL");
          await child.status;
        }
        child = sinkProcess(stack, topic, group);
        await waitFor(async () => (await committed(admin, group, topic)) >= end, {
          what: "the sink to commit the whole topic",
          timeoutMs: 120_000,
          intervalMs: 250,
        });
        child.kill("SIGTERM");
        assert.equal((await child.status).code, 0, "SIGTERM: flush, commit, exit 0");
      } finally {
        killQuietly(child);
      }
      await assertStoredExactlyOnce(stack, topic, ledger);
    }),
);

Deno.test(
  { name: "sink: MinIO down for 20 s: no crash, no loss, bounded memory", ...slow },
  () =>
    withTopic("sink-minio", async ({ stack, admin, topic, group, brokers }) => {
      const metricsPort = stack.plan.metrics + 1;
      const sink = sinkProcess(stack, topic, group, ["--metrics-port", String(metricsPort)]);
      let watch: ReturnType<typeof setInterval> | undefined;
      try {
        const generator = new Generator({
          brokers,
          topic,
          eps: 4000,
          durationMs: 40_000,
          seed: "minio",
          chaosMode: true,
          malformedProb: 0.01,
          probabilities: noIncidents,
        }).run();
        let maxRss = 0;
        let breakerOpened = false;
        watch = setInterval(async () => {
          try {
            const status = await Deno.readTextFile(`/proc/${sink.pid}/status`);
            maxRss = Math.max(maxRss, Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) / 1024);
            const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
            if (/^sink_breaker_open 1$/m.test(text)) breakerOpened = true;
          } catch { /* not up yet */ }
        }, 250);
        await new Promise((r) => setTimeout(r, 10_000));
        await stack.node("minio").kill();
        await new Promise((r) => setTimeout(r, 20_000));
        await stack.node("minio").start();
        const ledger = await generator;
        const end = await endOffsets(admin, topic);
        await waitFor(async () => (await committed(admin, group, topic)) >= end, {
          what: "the lag to drain after MinIO returned",
          timeoutMs: 90_000,
          intervalMs: 250,
        });
        clearInterval(watch);
        console.log(`sink max RSS ${maxRss.toFixed(0)} MiB; breaker opened: ${breakerOpened}`);
        sink.kill("SIGTERM");
        assert.equal(
          (await sink.status).code,
          0,
          "the sink survived the outage and stopped cleanly",
        );
        assert.ok(breakerOpened, "the breaker never opened while MinIO was down");
        assert.ok(maxRss < 600, `memory grew to ${maxRss} MiB`);
        await assertStoredExactlyOnce(stack, topic, ledger);
      } finally {
        clearInterval(watch);
        killQuietly(sink);
      }
    }),
);

Deno.test(
  { name: "sink: a second instance joins and leaves: no loss, no duplicates", ...slow },
  () =>
    withTopic("sink-rebalance", async ({ stack, admin, topic, group, brokers }) => {
      const a = sinkProcess(stack, topic, group);
      let b: Deno.ChildProcess | undefined;
      try {
        const generator = new Generator({
          brokers,
          topic,
          eps: 5000,
          durationMs: 25_000,
          seed: "rebalance",
          chaosMode: true,
          malformedProb: 0.01,
          probabilities: noIncidents,
        }).run();
        await new Promise((r) => setTimeout(r, 6000));
        b = sinkProcess(stack, topic, group);
        // Both in the group (a SIGTERM before the second one has started would kill it outright).
        await waitFor(async () => (await members(admin, group)) === 2, {
          what: "the second sink to join the group",
          timeoutMs: 60_000,
          intervalMs: 250,
        });
        await new Promise((r) => setTimeout(r, 8000));
        b.kill("SIGTERM");
        assert.equal((await b.status).code, 0);
        const ledger = await generator;
        const end = await endOffsets(admin, topic);
        await waitFor(async () => (await committed(admin, group, topic)) >= end, {
          what: "the remaining sink to commit the whole topic",
          timeoutMs: 90_000,
          intervalMs: 250,
        });
        a.kill("SIGTERM");
        assert.equal((await a.status).code, 0);
        await assertStoredExactlyOnce(stack, topic, ledger);
      } finally {
        killQuietly(a);
        killQuietly(b);
      }
    }),
);

Deno.test(
  {
    name:
      "sink: frozen longer than its session (evicted, re-read from the commit): no crash, no loss",
    ...slow,
  },
  () =>
    withTopic("sink-freeze", async ({ stack, admin, topic, group, brokers }) => {
      const sink = sinkProcess(stack, topic, group, ["--batch-age", "3s"]);
      try {
        const generator = new Generator({
          brokers,
          topic,
          eps: 5000,
          durationMs: 30_000,
          seed: "freeze",
          chaosMode: true,
          malformedProb: 0.01,
          probabilities: noIncidents,
        }).run();
        await new Promise((r) => setTimeout(r, 8000));
        sink.kill("SIGSTOP"); // open batches stay in memory; the group evicts the member
        await new Promise((r) => setTimeout(r, 20_000));
        sink.kill("SIGCONT");
        const ledger = await generator;
        const end = await endOffsets(admin, topic);
        await waitFor(async () => (await committed(admin, group, topic)) >= end, {
          what: "the thawed sink to commit the whole topic",
          timeoutMs: 90_000,
          intervalMs: 250,
        });
        sink.kill("SIGTERM");
        assert.equal((await sink.status).code, 0, "the sink survived its eviction");
        await assertStoredExactlyOnce(stack, topic, ledger);
      } finally {
        killQuietly(sink);
      }
    }),
);
