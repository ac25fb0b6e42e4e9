/**
 * The detector against the real stack: a generated run with three incidents of
 * each kind over baseline traffic; every incident raises exactly one alert and
 * nothing else does. Windows are 20 s sliding by 5 s to keep the run short.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { slow, testStack } from "../compose/testing.ts";
import { waitFor } from "../compose/wait.ts";
import type { Alert } from "./alert.ts";
import { INCIDENT_KINDS } from "./anomalies.ts";
import { Detector } from "./detector.ts";
import { Generator, type ScheduledIncident } from "./generator.ts";
import { ensureTopic, kafkaClient } from "./kafka.ts";
import { WebhookReceiver } from "./webhook_receiver.ts";

Deno.test({ name: "detector: one alert per incident, none without one", ...slow }, async () => {
  const { stack, release } = await testStack();
  const brokers = stack.endpoints.kafka.bootstrap.split(",");
  const kafka = kafkaClient(brokers, "detector-test");
  const topic = `detector-${Date.now().toString(36)}`;
  const receiver = new WebhookReceiver({ secret: "test-secret" });
  const detector = new Detector({
    brokers,
    topic,
    groupId: `${topic}-detector`,
    redisUrl: stack.endpoints.redis.url,
    webhookUrl: receiver.url,
    secret: "test-secret",
    windows: { sizeMs: 20_000, slideMs: 5000, outOfOrderMs: 2000, idleMs: 5000 },
  });
  try {
    await ensureTopic(kafka, topic, { partitions: 6 });
    const incidents: ScheduledIncident[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [i, kind] of INCIDENT_KINDS.entries()) {
        incidents.push({ kind, at_ms: 3000 + round * 7000 + i * 1500, duration_ms: 8000 });
      }
    }
    await detector.start();
    const ledger = await new Generator({
      brokers,
      topic,
      eps: 4000,
      durationMs: 60_000,
      seed: "detector",
      incidents,
    }).run();
    assert.equal(ledger.incidents.length, 12);
    await waitFor(() => receiver.deliveries().length >= 12 && detector.status().pending === 0, {
      what: "12 alerts",
      timeoutMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 3000)); // any extra alert would show up now
    const alerts = receiver.deliveries().map((d) => d.body as Alert);
    console.log(`alerts: ${alerts.length}; detector`, detector.status());
    for (const d of receiver.deliveries()) assert.equal(d.signature_ok, true);
    const ids = new Set(alerts.map((a) => a.alert_id));
    for (const incident of ledger.incidents) {
      const matched = alerts.filter((a) => a.rule === incident.kind && a.entity === incident.entity);
      assert.equal(
        new Set(matched.map((a) => a.alert_id)).size,
        1,
        `${incident.kind} ${incident.entity}: ${matched.length} alerts`,
      );
    }
    const explained = alerts.filter((a) =>
      ledger.incidents.some((i) => i.kind === a.rule && i.entity === a.entity)
    );
    assert.equal(explained.length, alerts.length, "an alert without an incident");
    assert.equal(ids.size, 12);
  } finally {
    await detector.stop();
    await receiver.stop();
    const redis = new Redis(stack.endpoints.redis.url);
    await redis.flushdb();
    redis.disconnect();
    await release();
  }
});
