/**
 * The alert contract: the JSON body the detector POSTs to the webhook, its
 * deterministic id and its HMAC-SHA256 signature.
 *
 * ```json
 * {"alert_id":"…","rule":"exfil","entity":"10.64.0.1","window_start_ms":…,"window_end_ms":…,
 *  "value":126000000,"threshold":50000000,"fired_at_ms":…}
 * ```
 * Headers: `Idempotency-Key: <alert_id>`, and `X-Signature-SHA256: <hex>` over
 * the raw body when a secret is set (`WEBHOOK_SECRET`).
 * @module
 */

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import type { Rule } from "./rules.ts";

export interface Alert {
  alert_id: string;
  rule: Rule;
  entity: string;
  window_start_ms: number;
  window_end_ms: number;
  value: number;
  threshold: number;
  fired_at_ms: number;
}

export const SIGNATURE_HEADER = "x-signature-sha256";

/** Same rule, entity and window: same id, in every detector incarnation. */
export function alertId(rule: string, entity: string, windowStartMs: number): string {
  return createHash("sha256").update(`${rule}|${entity}|${windowStartMs}`).digest("hex").slice(
    0,
    24,
  );
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
