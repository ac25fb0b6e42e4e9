/**
 * Reading `deliveries.jsonl` back for a re-check. Each line is a delivery as
 * the webhook receiver kept it: its raw body and signature header, the time
 * and the answer. Nothing recorded about the signature is believed: each
 * signature is verified again from the raw body with the run's webhook secret
 * (kept sealed in the run folder, validate/seal.ts), and the alert is parsed
 * from the raw body, exactly as the live receiver did, so the re-check finds
 * what the live run found.
 *
 * A line that is not a delivery the receiver can have written (not JSON, torn,
 * binary, a time no date holds, a body over the receiver's cap, more lines
 * than it keeps) is an `UnreadableEvidenceError` naming its line.
 *
 * Runs from before bodies were kept (no `raw`) are read only when the caller
 * trusts their recorded `body` and `signature_ok` (`legacy`: an unsealed
 * folder re-checked with `--unsealed`).
 *
 * ```ts
 * import { parseDeliveries } from "./deliveries.ts";
 * const deliveries = parseDeliveries(text, { secret: "…" });
 * ```
 * @module
 */

import { z } from "zod";
import { verify } from "../pipeline/alert.ts";
import { type Delivery, RECEIVER_LIMITS } from "../pipeline/webhook_receiver.ts";
import { excerpt, isEpochMs, parseJson, UnreadableEvidenceError } from "./unreadable.ts";

export const DELIVERIES_FILE = "deliveries.jsonl";

/** A line longer than this cannot hold a kept body (64 KiB, each character escaped). */
const MAX_LINE = 1024 * 1024;

const Line = z.object({
  received_at_ms: z.number().refine(isEpochMs, "must be an epoch ms"),
  raw: z.string().max(RECEIVER_LIMITS.maxBodyBytes).nullable().optional(),
  signature: z.string().max(4096).nullable().optional(),
  idempotency_key: z.string().nullable(),
  signature_ok: z.boolean().nullable().optional(),
  answered: z.number().int().min(100).max(599),
  on_purpose: z.enum(["error", "slow"]).optional(),
  refused: z.enum(["too_large", "over_cap", "too_many_connections"]).optional(),
  not_kept: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Older runs only: the parsed body. */
  body: z.unknown().optional(),
});

export interface DeliveryReading {
  /** The run's webhook secret (null: the run's receiver checked no signatures). */
  secret: string | null;
  /** Trust the recorded body and signature check of lines without a raw body (older runs). */
  legacy?: boolean;
}

/** The body as the receiver parsed it: JSON, or its text. */
function parsedBody(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** The deliveries of `text` (deliveries.jsonl), signatures verified again. */
export function parseDeliveries(text: string, o: DeliveryReading): Delivery[] {
  const out: Delivery[] = [];
  const lines = text.split("\n");
  // The receiver keeps at most maxDeliveries, one record of the cap being hit and one of its
  // connection cap being hit.
  const most = RECEIVER_LIMITS.maxDeliveries + 2;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim()) continue;
    const n = i + 1;
    const bad = (why: string) => new UnreadableEvidenceError(DELIVERIES_FILE, n, why);
    if (out.length === most) throw bad(`more deliveries than the receiver keeps (${most})`);
    if (line.length > MAX_LINE) throw bad(`a line of ${line.length} characters`);
    const d = parseJson(DELIVERIES_FILE, line, Line, n);
    const delivery: Delivery = {
      received_at_ms: d.received_at_ms,
      body: null,
      raw: d.raw ?? null,
      signature: d.signature ?? null,
      idempotency_key: d.idempotency_key,
      signature_ok: null,
      answered: d.answered,
    };
    if (d.on_purpose) delivery.on_purpose = d.on_purpose;
    if (d.refused) {
      delivery.refused = d.refused;
      if (d.refused !== "too_large") delivery.not_kept = d.not_kept ?? 1;
      if (d.raw) throw bad(`a refused delivery with a body ${excerpt(d.raw)}`);
    } else if (typeof d.raw === "string") {
      delivery.body = parsedBody(d.raw);
      delivery.signature_ok = o.secret === null
        ? null
        : verify(d.raw, o.secret, delivery.signature ?? null);
    } else if (o.legacy) {
      delivery.body = d.body ?? null;
      delivery.signature_ok = d.signature_ok ?? null;
    } else throw bad("no raw body (a delivery the receiver did not keep whole)");
    out.push(delivery);
  }
  return out;
}
