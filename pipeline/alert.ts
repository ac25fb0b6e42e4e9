/**
 * The alert contract: the JSON body the detector POSTs to the webhook, its
 * deterministic id and its HMAC-SHA256 signature.
 *
 * ```json
 * {"alert_id":"…","rule":"exfil","entity":"10.64.0.1","window_start_ms":…,"window_end_ms":…,
 *  "value":126000000,"threshold":50000000,"fired_at_ms":…,"early":true}
 * ```
 * Headers: `Idempotency-Key: <alert_id>`, and `X-Signature-SHA256: <hex>` over
 * the raw body when a secret is set (`WEBHOOK_SECRET`).
 *
 * The built-in detector also says, in the JSON format, when each step of the
 * alert happened on its own clock (`AlertTimeline`: the watermark passing the
 * window's end, the lock and outbox write, this delivery attempt and the
 * earlier ones with their answers). All optional, for the report only: the
 * harness never judges an alert by them (validate/alert_steps.ts).
 * @module
 */

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import type { Rule } from "./rules.ts";

/** The contract's fields, and the detector's timeline (optional, for the report only). */
export interface Alert extends AlertTimeline {
  alert_id: string;
  rule: Rule;
  entity: string;
  window_start_ms: number;
  window_end_ms: number;
  value: number;
  threshold: number;
  fired_at_ms: number;
  /**
   * True when a threshold rule fired before its window closed, on the part
   * received so far; the window is still the nominal one (WINDOW_SIZE long).
   */
  early?: boolean;
}

/** One earlier delivery attempt of an alert, as the detector saw it. */
export interface DeliveryAttempt {
  /** The detector's clock when the attempt was sent. */
  at_ms: number;
  /** The detector's clock when it got the answer, or gave up on it (timeout, refused). */
  answered_at_ms: number;
  /** The HTTP status answered; 0: no answer (timeout, connection refused). */
  status: number;
}

/**
 * When each step of an alert happened, on the detector's clock (epoch ms). `fired_at_ms`
 * (the alert's own field) is the rule firing. Absent fields were not recorded (an early
 * alert has no watermark passing; an alert left in the outbox by an earlier incarnation
 * has no lock time).
 */
export interface AlertTimeline {
  /** The detector's watermark passed the window's end (window-close alerts). */
  watermark_passed_at_ms?: number;
  /** The dedupe lock taken in Redis and the outbox entry written (one Lua script: one instant). */
  locked_at_ms?: number;
  /** This delivery's attempt number, 1 for the first. */
  attempt?: number;
  /** This attempt sent. */
  attempt_at_ms?: number;
  /** The earlier attempts of this alert, with their answers (the last `MAX_ATTEMPTS_KEPT`). */
  attempts?: DeliveryAttempt[];
}

/** Earlier attempts carried in a delivery's body, at most (a body stays small). */
export const MAX_ATTEMPTS_KEPT = 8;

/**
 * The body of one delivery attempt: the alert's JSON body (`base`, as kept in the outbox) with
 * the timeline added (a field the base already has is not repeated). Other formats (Slack,
 * Discord), or a base that is not a JSON object, are sent as they are.
 */
export function attemptBody(
  base: string,
  timeline: AlertTimeline,
  format: WebhookFormat = "json",
): string {
  if (format !== "json" || !base.startsWith("{") || !base.endsWith("}")) return base;
  const t: AlertTimeline = { ...timeline };
  if (t.attempts) {
    if (t.attempts.length === 0) delete t.attempts;
    else t.attempts = t.attempts.slice(-MAX_ATTEMPTS_KEPT);
  }
  const extra = JSON.stringify(t).slice(1, -1);
  if (extra === "") return base;
  return base === "{}" ? `{${extra}}` : `${base.slice(0, -1)},${extra}}`;
}

export const SIGNATURE_HEADER = "x-signature-sha256";

/** Same rule, entity and window: same id, in every detector incarnation. */
export function alertId(rule: string, entity: string, windowStartMs: number): string {
  return createHash("sha256").update(`${rule}|${entity}|${windowStartMs}`).digest("hex").slice(
    0,
    24,
  );
}

/** Body formats of a delivery: the contract's JSON, or a chat message for Slack or Discord. */
export const WEBHOOK_FORMATS = ["json", "slack", "discord"] as const;
export type WebhookFormat = typeof WEBHOOK_FORMATS[number];

const RULE_TITLES: Record<string, string> = {
  exfil: "Data exfiltration",
  port_scan: "Port scan",
  latency_spike: "Latency spike",
  reset_storm: "Connection reset storm",
};

/**
 * The body POSTed for `alert`: the contract's JSON object, or a Slack
 * (`{text}`) or Discord (`{content, embeds}`) message carrying the same
 * figures and the `alert_id`. The Idempotency-Key and signature headers are
 * the same whatever the format.
 */
export function alertBody(alert: Alert, format: WebhookFormat = "json"): string {
  if (format === "json") return JSON.stringify(alert);
  const title = `${RULE_TITLES[alert.rule] ?? alert.rule} from ${alert.entity}`;
  const window = `${new Date(alert.window_start_ms).toISOString()} to ${
    new Date(alert.window_end_ms).toISOString()
  }`;
  const figures = `value ${alert.value} over threshold ${alert.threshold}`;
  if (format === "slack") {
    return JSON.stringify({
      text:
        `:rotating_light: *${title}*: ${figures} (window ${window}, alert \`${alert.alert_id}\`)`,
    });
  }
  return JSON.stringify({
    content: `🚨 **${title}**`,
    embeds: [{
      title,
      description: figures,
      fields: [
        { name: "window", value: window },
        { name: "alert_id", value: alert.alert_id },
      ],
      timestamp: new Date(alert.fired_at_ms).toISOString(),
    }],
  });
}

export function sign(body: string, secret: string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

export function verify(body: string, secret: string, signature: string | null): boolean {
  if (!signature) return false;
  const want = Buffer.from(sign(body, secret), "hex");
  const got = Buffer.from(signature, "hex");
  return want.length === got.length && timingSafeEqual(want, got);
}
