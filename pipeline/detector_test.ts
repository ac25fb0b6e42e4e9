/**
 * The detector against the real stack: generated runs with three incidents of
 * each kind over baseline traffic; every incident raises exactly one alert
 * (one distinct alert_id; retried deliveries of it are fine) and nothing else
 * does. Also with the detector SIGKILLed mid-incident and restarted, and with
 * the webhook answering 503 for 20 s. Windows are 20 s sliding by 5 s to keep
 * the runs short.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { LocalStack } from "../compose/local_stack.ts";
import { slow, testStack } from "../compose/testing.ts";
import { securityEnv, securityFor } from "./kafka_security.ts";
import { waitFor } from "../lib/wait.ts";
import type { Alert } from "./alert.ts";
import { INCIDENT_KINDS } from "./anomalies.ts";
import { Detector, drainInOrder } from "./detector.ts";
import { Generator } from "./generator.ts";
import type { ScheduledIncident } from "./generator_options.ts";
import { ensureTopic, kafkaClient } from "./kafka.ts";
import { WebhookReceiver } from "./webhook_receiver.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECRET = "test-secret";
const WINDOWS = { sizeMs: 20_000, slideMs: 5000, outOfOrderMs: 2000, idleMs: 5000 };

/** Runs a detector in a child process (so it can be SIGKILLed). */
function detectorProcess(stack: LocalStack, topic: string, group: string, webhook: string) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "pipeline/cli_detector.ts",
      "--brokers",
      stack.endpoints.kafka.bootstrap,
      "--redis",
      stack.endpoints.redis.url,
      "--webhook",
      webhook,
      "--topic",
      topic,
      "--group",
      group,
      "--window",
      "20s",
      "--slide",
      "5s",
      "--out-of-order",
      "2s",
    ],
    cwd: root,
    env: {
      WEBHOOK_SECRET: SECRET,
      CHAOS_QUIET: "1",
      KAFKA_LOG_LEVEL: "nothing",
      // The stack's user (the local stack asks for SCRAM: compose/kafka_scram.ts).
      ...securityEnv(securityFor(stack.endpoints.kafka.bootstrap)),
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
}

type Variant = "plain" | "sigkill" | "webhook-503";

async function run(variant: Variant) {
  const { stack, release } = await testStack();
  const brokers = stack.endpoints.kafka.bootstrap.split(",");
  const kafka = kafkaClient(brokers, "detector-test");
  const topic = `detector-${variant}-${Date.now().toString(36)}`;
  const group = `${topic}-detector`;
  const receiver = new WebhookReceiver({ secret: SECRET });
  let detector: Detector | undefined;
  let child: Deno.ChildProcess | undefined;
  try {
    await ensureTopic(kafka, topic, { partitions: 6 });
    const incidents: ScheduledIncident[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [i, kind] of INCIDENT_KINDS.entries()) {
        incidents.push({ kind, at_ms: 3000 + round * 7000 + i * 1500, duration_ms: 8000 });
      }
    }
    if (variant === "sigkill") {
      child = detectorProcess(stack, topic, group, receiver.url);
    } else {
      detector = new Detector({
        brokers,
        topic,
        groupId: group,
        redisUrl: stack.endpoints.redis.url,
        webhookUrl: receiver.url,
        secret: SECRET,
        windows: WINDOWS,
      });
      await detector.start();
    }
    if (variant === "webhook-503") receiver.failUntil(Date.now() + 20_000, { status: 503 });
    const generating = new Generator({
      brokers,
      topic,
      eps: 4000,
      durationMs: 60_000,
      seed: `detector-${variant}`,
      incidents,
    }).run();
    if (variant === "sigkill") {
      // Mid-incident: the second round is under way and some alerts of the first are out.
      await new Promise((r) => setTimeout(r, 16_000));
      child!.kill("SIGKILL");
      await child!.status;
      console.log(`SIGKILL after ${receiver.deliveries().length} deliveries`);
      await new Promise((r) => setTimeout(r, 2000));
      child = detectorProcess(stack, topic, group, receiver.url);
    }
    const ledger = await generating;
    assert.equal(ledger.incidents.length, 12);
    const distinct = () =>
      new Set(
        receiver.deliveries().filter((d) => d.answered === 200).map((d) => d.idempotency_key),
      );
    await waitFor(() => distinct().size >= 12, { what: "12 delivered alerts", timeoutMs: 90_000 });
    await new Promise((r) => setTimeout(r, 3000)); // an extra alert would show up now
    const deliveries = receiver.deliveries();
    const alerts = deliveries.map((d) => d.body as Alert);
    console.log(`${variant}: ${deliveries.length} deliveries, ${distinct().size} distinct alerts`);
    for (const d of deliveries) {
      assert.equal(d.signature_ok, true);
      assert.equal(d.idempotency_key, (d.body as Alert).alert_id);
    }
    for (const incident of ledger.incidents) {
      const ids = new Set(
        alerts.filter((a) => a.rule === incident.kind && a.entity === incident.entity).map((a) =>
          a.alert_id
        ),
      );
      assert.equal(ids.size, 1, `${incident.kind} ${incident.entity}: ${ids.size} distinct alerts`);
    }
    const unexplained = alerts.filter((a) =>
      !ledger.incidents.some((i) => i.kind === a.rule && i.entity === a.entity)
    );
    assert.deepEqual(unexplained, [], "alerts without an incident");
    if (variant === "plain") {
      // Every rule fires before its window closes: the source rules at their threshold, the
      // destination rules with their margin (an incident's service keeps its baseline, 0.5
      // events/s at 4000/s, which its incident outweighs: anomalies.ts).
      for (const a of alerts) assert.equal(a.early, true, `${a.rule} early`);
    }
    if (variant === "webhook-503") {
      assert.ok(deliveries.some((d) => d.answered === 503), "the webhook never failed");
    }
  } finally {
    child?.kill("SIGTERM");
    await child?.status;
    await detector?.stop();
    await receiver.stop();
    const redis = new Redis(stack.endpoints.redis.url);
    await redis.flushdb();
    redis.disconnect();
    await release();
  }
}

Deno.test(
  { name: "detector: one alert per incident, none without one", ...slow },
  () => run("plain"),
);

Deno.test(
  { name: "detector: SIGKILL mid-incident and restart: no miss, no double", ...slow },
  () => run("sigkill"),
);

Deno.test(
  { name: "detector: webhook answers 503 for 20 s: every alert delivered once", ...slow },
  () => run("webhook-503"),
);

Deno.test("drainInOrder: batches started in order; a failure keeps itself and what follows", async () => {
  const started: number[] = [];
  const queue = [1, 2, 3, 4, 5];
  await drainInOrder(queue, async (x) => {
    started.push(x);
    await Promise.resolve();
  }, 2);
  assert.deepEqual(started, [1, 2, 3, 4, 5]);
  assert.deepEqual(queue, []);
  const left = [1, 2, 3, 4, 5];
  await assert.rejects(
    drainInOrder(
      left,
      (x) => x === 3 ? Promise.reject(new Error("redis down")) : Promise.resolve(),
      4,
    ),
    /redis down/,
  );
  assert.deepEqual(left, [3, 4, 5], "the failed one and those after it are kept, in order");
  const one = [1];
  await drainInOrder(one, () => Promise.resolve(), 0);
  assert.deepEqual(one, [], "a batch is at least one");
});
