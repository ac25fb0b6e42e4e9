/**
 * `deno task detector --webhook URL [flags]`: runs the detector standalone
 * against the running local stack or `--brokers`/`--redis`. The HMAC secret
 * comes only from `WEBHOOK_SECRET` in the environment. SIGTERM or Ctrl-C stops
 * it (exit 0). `--help` lists the knobs.
 * @module
 */

import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { parseKnobArgs, stackEndpoints } from "./_cli.ts";
import { Detector } from "./detector.ts";
import { DETECTOR_KNOBS, knobHelp } from "./knobs.ts";
import { serveMetrics, withProcessMetrics } from "./metrics.ts";
import { WEBHOOK_FORMATS, type WebhookFormat } from "./alert.ts";
import { StatusLine } from "./status_line.ts";
import { DETECTOR_SABOTAGES, sabotageMode } from "./sabotage.ts";
import { s3FromEnv } from "./store.ts";

const USAGE = `usage: deno task detector --webhook URL [flags]\n${
  knobHelp(DETECTOR_KNOBS)
}\n  --stack NAME   local stack to use (default "default")\n  WEBHOOK_SECRET (environment only) signs deliveries`;

if (import.meta.main) {
  await runMain(async () => {
    const args = parseKnobArgs(Deno.args, DETECTOR_KNOBS, USAGE);
    if (!args) return ExitCode.Pass;
    const k = args.knobs;
    if (!k.WEBHOOK_URL) throw new UsageError(`--webhook (or WEBHOOK_URL) is required\n${USAGE}`);
    const format = k.WEBHOOK_FORMAT as WebhookFormat;
    if (!WEBHOOK_FORMATS.includes(format)) {
      throw new UsageError(
        `WEBHOOK_FORMAT must be one of ${WEBHOOK_FORMATS.join(", ")}, got "${format}"`,
      );
    }

    const sabotage = sabotageMode(
      "DETECTOR_SABOTAGE",
      k.DETECTOR_SABOTAGE as string,
      DETECTOR_SABOTAGES,
    );

    let brokers = k.KAFKA_BROKERS as string[];
    let redisUrl = k.REDIS_URL as string;
    // Only the ledger sabotage reads the bucket.
    let s3 = sabotage === "ledger" ? s3FromEnv() : undefined;
    if (brokers.length === 0 || !redisUrl || (sabotage === "ledger" && !s3)) {
      const endpoints = await stackEndpoints(
        args.stack,
        "brokers, Redis or S3 (KAFKA_BROKERS, REDIS_URL, S3_*)",
      );
      if (brokers.length === 0) brokers = endpoints.kafka.bootstrap.split(",");
      redisUrl ||= endpoints.redis.url;
      if (sabotage === "ledger") s3 ??= endpoints.s3;
    }
    if ((k.WINDOW_SIZE as number) % (k.WINDOW_SLIDE as number) !== 0) {
      throw new UsageError(
        `--window ${k.WINDOW_SIZE} ms must be a multiple of --slide ${k.WINDOW_SLIDE} ms`,
      );
    }
    const detector = new Detector({
      brokers,
      redisUrl,
      webhookUrl: k.WEBHOOK_URL as string,
      format,
      topic: k.KAFKA_TOPIC as string,
      groupId: k.DETECTOR_GROUP as string,
      lockTtlMs: k.ALERT_LOCK_TTL as number,
      earlyAlerts: k.DETECTOR_EARLY_ALERTS as boolean,
      sabotage,
      s3,
      windows: {
        sizeMs: k.WINDOW_SIZE as number,
        slideMs: k.WINDOW_SLIDE as number,
        outOfOrderMs: k.OUT_OF_ORDER as number,
      },
    });
    const metrics = serveMetrics(withProcessMetrics(detector.metrics), k.METRICS_PORT as number);
    const done = Promise.withResolvers<void>();
    Deno.addSignalListener("SIGTERM", () => done.resolve());
    Deno.addSignalListener("SIGINT", () => done.resolve());
    await detector.start();
    console.error(`detector: consuming ${detector.topic} as group ${detector.groupId}`);
    if (sabotage !== "none") console.error(`detector: SABOTAGE ${sabotage}: this detector cheats`);
    const line = new StatusLine();
    const ticker = setInterval(() => {
      const s = detector.status();
      line.show(
        `detector | events ${s.events} invalid ${s.invalid} | fired ${s.fired} suppressed ${s.suppressed} ` +
          `delivered ${s.delivered} | pending ${s.pending} outbox ${s.outbox}`,
      );
    }, 1000);
    await done.promise;
    clearInterval(ticker);
    line.clear();
    await detector.stop();
    await metrics.shutdown();
    return ExitCode.Pass;
  });
}
