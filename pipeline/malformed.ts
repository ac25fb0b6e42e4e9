/**
 * Malformed records for chaos mode. Each corruption keeps `producer_id` and
 * `seq` readable in the raw text where it can (they are the first two keys), so
 * the sink can file the record in the DLQ under its identity and the validator
 * can find it there.
 *
 * | kind               | what is wrong                                  | identity kept |
 * | ------------------ | ---------------------------------------------- | ------------- |
 * | truncated          | JSON cut off after the seq field               | yes           |
 * | wrong_type         | a number field holds a string                  | yes           |
 * | missing_field      | a required field is gone                       | yes           |
 * | impossible_address | src_ip like 300.12.7.999                       | yes           |
 *
 * ```ts
 * import { corrupt } from "./malformed.ts";
 * const { raw, kind } = corrupt(rng, event);
 * ```
 * @module
 */

import type { TelemetryEvent } from "./event.ts";
import type { Rng } from "./rng.ts";

export const MALFORMED_KINDS = [
  "truncated",
  "wrong_type",
  "missing_field",
  "impossible_address",
] as const;
export type MalformedKind = typeof MALFORMED_KINDS[number];

const NUMBER_FIELDS = ["bytes_out", "bytes_in", "packets", "latency_ms", "dst_port"] as const;
const REQUIRED = ["ts_ms", "src_ip", "dst_ip", "protocol", "action", "bytes_out"] as const;

/** A corrupted message value for `event`, of `kind` or a random kind. */
export function corrupt(
  rng: Rng,
  event: TelemetryEvent,
  kind: MalformedKind = rng.pick(MALFORMED_KINDS),
): { raw: string; kind: MalformedKind } {
  switch (kind) {
    case "truncated": {
      const text = JSON.stringify(event);
      const keep = text.indexOf(`"seq":${event.seq}`) + `"seq":${event.seq},`.length;
      const cut = rng.int(keep + 1, Math.max(keep + 2, text.length - 2));
      return { raw: text.slice(0, cut), kind };
    }
    case "wrong_type": {
      const field = rng.pick(NUMBER_FIELDS);
      return {
        raw: JSON.stringify({ ...event, [field]: rng.pick(["lots", "NaN", "12kB"]) }),
        kind,
      };
    }
    case "missing_field": {
      const copy: Record<string, unknown> = { ...event };
      delete copy[rng.pick(REQUIRED)];
      return { raw: JSON.stringify(copy), kind };
    }
    case "impossible_address": {
      const bad = `${rng.int(256, 999)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(256, 999)}`;
      return { raw: JSON.stringify({ ...event, src_ip: bad }), kind };
    }
  }
}
