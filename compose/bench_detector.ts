/**
 * `deno task bench:detector [--events 1000000] [--eps 15000]`
 *
 * On a local stack of its own:
 * 1. a live run: the generator produces the events with incidents while a
 *    detector (default 60 s / 10 s windows) follows it; the alert latency
 *    (fired time minus the end of the window that triggered it) and the time
 *    to detect (first delivery minus the incident's start) are measured at
 *    the webhook;
 * 2. a second live run (`--close-eps`, default the flagship's 10,000 events/s,
 *    40 s of incidents) on a topic of its own with a detector that
 *    fires only when windows close (`earlyAlerts: false`), for its own delay
 *    after the watermark: firing minus the window's end plus the 5 s
 *    out-of-orderness bound, on the wall clock, so a detector that falls
 *    behind its topic pays for it. Alone, so the two do not share the cores;
 * 3. a third detector drains the first topic from the start, for throughput.
 *
 * Last line, exactly: `detector_eps=<n> detect_ms_p99=<n> after_watermark_ms_p99=<n>
 * alert_latency_p99_ms=<n>`.
 * @module
 */

import type { Kafka } from "kafkajs";
import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { LocalStack } from "./local_stack.ts";
import { say } from "../lib/progress.ts";
import { waitFor } from "../lib/wait.ts";
import type { Alert } from "../pipeline/alert.ts";
import { INCIDENT_KINDS } from "../pipeline/anomalies.ts";
import { Detector } from "../pipeline/detector.ts";
import { Generator } from "../pipeline/generator.ts";
import type { ScheduledIncident } from "../pipeline/generator_options.ts";
import { ensureTopic, kafkaClient } from "../pipeline/kafka.ts";
import type { Ledger } from "../pipeline/ledger.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { quantile } from "../lib/stats.ts";

const USAGE = "usage: deno task bench:detector [--events 1000000] [--eps 15000] " +
  "[--close-eps 10000] [--base-port 31600]";
/** The detector's out-of-orderness bound (its default). */
const OUT_OF_ORDER_MS = 5000;

interface LiveRun {
  ledger: Ledger;
  receiver: WebhookReceiver;
  alerts: Alert[];
  /** The detector's watermark lag (wall clock minus watermark), sampled twice a second. */
  watermarkLagMs: number[];
}

/**
 * Produces `events` at `eps` with one incident every 2 s (the four kinds in turn, each on an
 * entity of its own, so the p99 is taken over dozens of alerts) and 75 s of baseline after
 * them, so the last windows close live, while one detector follows the topic.
 */
async function liveRun(
  o: { kafka: Kafka; brokers: string[]; redisUrl: string; topic: string },
  events: number,
  eps: number,
  earlyAlerts: boolean,
): Promise<LiveRun> {
  await ensureTopic(o.kafka, o.topic, { partitions: 6 });
  const mainMs = Math.ceil(events / eps) * 1000;
  const incidents: ScheduledIncident[] = [];
  for (let at = 5000, n = 0; at + 15_000 <= mainMs; at += 2000, n++) {
    incidents.push({ kind: INCIDENT_KINDS[n % 4], at_ms: at, duration_ms: 15_000 });
  }
  say(
    `live (${earlyAlerts ? "early alerts" : "window-close alerts only"}): ${events} events at ` +
      `${eps}/s with ${incidents.length} incidents, detector following`,
  );
  const receiver = new WebhookReceiver();
  const detector = new Detector({
    brokers: o.brokers,
    topic: o.topic,
    groupId: `bench-live-${o.topic}`,
    redisUrl: o.redisUrl,
    webhookUrl: receiver.url,
    earlyAlerts,
  });
  await detector.start();
  const watermarkLagMs: number[] = [];
  const gauge = detector.metrics.getSingleMetric("detector_watermark_lag_seconds");
  const sampler = setInterval(async () => {
    const lag = (await gauge?.get())?.values[0]?.value;
    if (lag) watermarkLagMs.push(Math.round(lag * 1000));
  }, 500);
  try {
    const ledger = await new Generator({
      brokers: o.brokers,
      topic: o.topic,
      eps,
      durationMs: mainMs + 75_000,
      seed: `bench-detector-${o.topic}`,
      incidents,
      kafka: o.kafka,
    }).run();
    await waitFor(() => detector.status().fired >= incidents.length, {
      what: "the live alerts",
      timeoutMs: 120_000,
    }).catch(() => {});
    const alerts = receiver.deliveries().map((d) => d.body as Alert);
    return { ledger, receiver, alerts, watermarkLagMs };
  } catch (error) {
    await receiver.stop();
    throw error;
  } finally {
    clearInterval(sampler);
    await detector.stop();
  }
}

const q = (values: number[], at: number) => quantile(values, at) ?? NaN;
const latencies = (of: Alert[]) => of.map((a) => a.fired_at_ms - a.window_end_ms);

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      events: { type: "string", default: "1000000" },
      eps: { type: "string", default: "15000" },
      "close-eps": { type: "string", default: "10000" },
      "base-port": { type: "string", default: "31600" },
    }, USAGE);
    const events = intFlag("events", values.events, { min: 10_000 })!;
    const eps = intFlag("eps", values.eps, { min: 100 })!;
    const closeEps = intFlag("close-eps", values["close-eps"], { min: 100 })!;
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const stack = await LocalStack.up({ name: `bench-det-${Deno.pid}`, basePort });
    const receivers: WebhookReceiver[] = [];
    try {
      const brokers = stack.endpoints.kafka.bootstrap.split(",");
      const kafka = kafkaClient(brokers, "bench-detector");
      const on = { kafka, brokers, redisUrl: stack.endpoints.redis.url };

      const live = await liveRun({ ...on, topic: "bench-detector" }, events, eps, true);
      receivers.push(live.receiver);
      const lat = latencies(live.alerts);
      say(
        `live: ${live.alerts.length} alerts for ${live.ledger.incidents.length} incidents ` +
          `(${live.alerts.filter((a) => a.early).length} early); latency after the window's ` +
          `end p50 ${q(lat, 0.5)} ms, p99 ${q(lat, 0.99)} ms`,
      );
      // Time to detect: the first delivery of an incident's alert minus the incident's start.
      const detect: number[] = [];
      for (const inc of live.ledger.incidents) {
        const first = live.receiver.deliveries().find((d) =>
          (d.body as Alert).rule === inc.kind && (d.body as Alert).entity === inc.entity
        );
        if (first) detect.push(first.received_at_ms - inc.start_ms);
      }
      say(`live: time to detect p50 ${q(detect, 0.5)} ms, p99 ${q(detect, 0.99)} ms`);

      // The delay after the watermark, on a run of its own: 40 s of incidents (11 of them) at
      // the flagship's rate by default.
      const closing = await liveRun(
        { ...on, redisUrl: `${stack.endpoints.redis.url}/1`, topic: "bench-detector-close" },
        closeEps * 40,
        closeEps,
        false,
      );
      receivers.push(closing.receiver);
      const afterWatermark = closing.alerts.map((a) =>
        Math.max(0, a.fired_at_ms - (a.window_end_ms + OUT_OF_ORDER_MS))
      );
      say(
        `window-close: ${closing.alerts.length} alerts for ${closing.ledger.incidents.length} ` +
          `incidents; after the watermark p50 ${q(afterWatermark, 0.5)} ms, p99 ${
            q(afterWatermark, 0.99)
          } ms; the watermark's lag behind the wall clock, less the bound, p50 ${
            q(closing.watermarkLagMs, 0.5) - OUT_OF_ORDER_MS
          } ms, p99 ${q(closing.watermarkLagMs, 0.99) - OUT_OF_ORDER_MS} ms`,
      );

      const total = live.ledger.totals().acked;
      say(`drain: a third detector reads all ${total} events of the first run from the start`);
      const drainReceiver = new WebhookReceiver();
      receivers.push(drainReceiver);
      const drain = new Detector({
        brokers,
        topic: "bench-detector",
        groupId: "bench-drain",
        redisUrl: stack.endpoints.redis.url,
        webhookUrl: drainReceiver.url,
      });
      const t0 = performance.now();
      await drain.start();
      await waitFor(() => drain.status().events >= total, {
        what: "the drain",
        timeoutMs: 1_800_000,
        intervalMs: 100,
      });
      const secs = (performance.now() - t0) / 1000;
      await drain.stop();
      console.log(`drained ${total} events in ${secs.toFixed(1)} s (consumer group join included)`);
      console.log(
        `detector_eps=${(total / secs).toFixed(0)} detect_ms_p99=${q(detect, 0.99)} ` +
          `after_watermark_ms_p99=${q(afterWatermark, 0.99)} alert_latency_p99_ms=${q(lat, 0.99)}`,
      );
      return ExitCode.Pass;
    } finally {
      for (const r of receivers) await r.stop();
      await stack.down();
    }
  });
}
