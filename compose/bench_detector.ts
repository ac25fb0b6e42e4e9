/**
 * `deno task bench:detector [--events 1000000]`
 *
 * On a local stack of its own: (1) a live run: the generator produces the
 * events with incidents while a detector (default 60 s / 10 s windows) follows
 * it, and the alert latency (fired time minus the end of the window that
 * triggered it) is measured at the webhook; (2) a second detector drains the
 * whole topic from the start, for throughput.
 * Also time to detect (first delivery minus the incident's start) and the
 * detector's own delay after the watermark (window-close alerts' firing minus
 * their window's end plus the 5 s out-of-orderness bound), from a second live
 * detector that fires only when windows close.
 * Last line, exactly: `detector_eps=<n> detect_ms_p99=<n> after_watermark_ms_p99=<n>
 * alert_latency_p99_ms=<n>`.
 * @module
 */

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
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { quantile } from "../lib/stats.ts";

const USAGE =
  "usage: deno task bench:detector [--events 1000000] [--eps 15000] [--base-port 31600]";

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      events: { type: "string", default: "1000000" },
      eps: { type: "string", default: "15000" },
      "base-port": { type: "string", default: "31600" },
    }, USAGE);
    const events = intFlag("events", values.events, { min: 10_000 })!;
    const eps = intFlag("eps", values.eps, { min: 100 })!;
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const stack = await LocalStack.up({ name: `bench-det-${Deno.pid}`, basePort });
    const receiver = new WebhookReceiver();
    const closeReceiver = new WebhookReceiver();
    try {
      const brokers = stack.endpoints.kafka.bootstrap.split(",");
      const kafka = kafkaClient(brokers, "bench-detector");
      const topic = "bench-detector";
      await ensureTopic(kafka, topic, { partitions: 6 });
      // The last 75 s carry baseline only, so the windows of the last incident close live.
      const mainMs = Math.ceil(events / eps) * 1000;
      const durationMs = mainMs + 75_000;
      const incidents: ScheduledIncident[] = [];
      // One incident every 2 s (the four kinds in turn, each on an entity of its own), so the
      // p99 is taken over about two dozen alerts.
      for (let at = 5000, n = 0; at + 15_000 <= mainMs; at += 2000, n++) {
        incidents.push({ kind: INCIDENT_KINDS[n % 4], at_ms: at, duration_ms: 15_000 });
      }
      say(
        `live: ${events} events at ${eps}/s with ${incidents.length} incidents, detector following`,
      );
      const live = new Detector({
        brokers,
        topic,
        groupId: "bench-live",
        redisUrl: stack.endpoints.redis.url,
        webhookUrl: receiver.url,
      });
      // A second detector fires only when windows close (its own group, Redis database and
      // webhook), so the delay after the watermark is measured even when every alert of the
      // first fires early.
      const closing = new Detector({
        brokers,
        topic,
        groupId: "bench-live-close",
        redisUrl: `${stack.endpoints.redis.url}/1`,
        webhookUrl: closeReceiver.url,
        earlyAlerts: false,
      });
      await live.start();
      await closing.start();
      const ledger = await new Generator({
        brokers,
        topic,
        eps,
        durationMs,
        seed: "bench-detector",
        incidents,
        kafka,
      }).run();
      await waitFor(() => live.status().fired >= incidents.length, {
        what: "the live alerts",
        timeoutMs: 120_000,
      })
        .catch(() => {});
      await waitFor(() => closing.status().fired >= incidents.length, {
        what: "the window-close alerts",
        timeoutMs: 60_000,
      }).catch(() => {});
      await live.stop();
      await closing.stop();
      const alerts = receiver.deliveries().map((d) => d.body as Alert);
      const latencies = (of: Alert[]) => of.map((a) => a.fired_at_ms - a.window_end_ms);
      const q = (lat: number[], at: number) => quantile(lat, at) ?? NaN;
      const lat = latencies(alerts);
      say(
        `live: ${alerts.length} alerts for ${ledger.incidents.length} incidents; latency p50 ${
          q(lat, 0.5)
        } ms, p99 ${q(lat, 0.99)} ms`,
      );
      for (const early of [true, false]) {
        const some = latencies(alerts.filter((a) => Boolean(a.early) === early));
        say(
          `  ${
            early ? "fired early (open window)" : "fired at the close"
          }: ${some.length} alerts, latency p50 ${q(some, 0.5)} ms, p99 ${q(some, 0.99)} ms`,
        );
      }

      // Time to detect: the first delivery of an incident's alert minus the incident's start;
      // the detector's own delay: a window-close alert's firing minus the moment the watermark
      // could pass its window's end (the window's end plus the 5 s out-of-orderness bound).
      const detect: number[] = [];
      for (const inc of ledger.incidents) {
        const first = receiver.deliveries().find((d) =>
          (d.body as Alert).rule === inc.kind && (d.body as Alert).entity === inc.entity
        );
        if (first) detect.push(first.received_at_ms - inc.start_ms);
      }
      const closeAlerts = closeReceiver.deliveries().map((d) => d.body as Alert);
      const afterWatermark = [...alerts, ...closeAlerts].filter((a) => a.early !== true)
        .map((a) => Math.max(0, a.fired_at_ms - (a.window_end_ms + 5000)));
      say(
        `live: time to detect p50 ${q(detect, 0.5)} ms, p99 ${q(detect, 0.99)} ms; ` +
          `after the watermark p50 ${q(afterWatermark, 0.5)} ms, p99 ${
            q(afterWatermark, 0.99)
          } ms (${afterWatermark.length} window-close alerts, ${closeAlerts.length} from the ` +
          `detector without early alerts)`,
      );

      const total = ledger.totals().acked;
      say(`drain: a second detector reads all ${total} events from the start`);
      const drain = new Detector({
        brokers,
        topic,
        groupId: "bench-drain",
        redisUrl: stack.endpoints.redis.url,
        webhookUrl: receiver.url,
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
      await receiver.stop();
      await closeReceiver.stop();
      await stack.down();
    }
  });
}
