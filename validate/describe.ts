/**
 * A judged run in a few lines of text, for the terminal (`validate --run`,
 * the end of `deno task scenario`).
 *
 * ```ts
 * import { describeVerdict } from "./describe.ts";
 * for (const line of describeVerdict(judged)) console.log(line);
 * ```
 * @module
 */

import { durabilityFigures } from "./commits.ts";
import type { Judged } from "./recipe.ts";
import { printable } from "./printable.ts";
import { orderFigures } from "./order.ts";

/** The lines, each printable (what an alert or a producer id says cannot drive the terminal). */
export function describeVerdict(j: Judged): string[] {
  return verdictLines(j).map((line) => printable(line));
}

function verdictLines(j: Judged): string[] {
  const c = j.completeness;
  const out = [
    `completeness: acked ${c.acked}, in the topic ${c.in_topic}, stored ${c.found}, ` +
    `lost ${c.lost} (before Kafka ${c.lost_before_kafka}, by the sink ${c.lost_by_sink}), ` +
    `duplicates ${c.duplicates}, unexpected ${c.unexpected}, altered ${c.altered}, ` +
    `dlq ${c.dlq_found}/${c.dlq_expected}, unknown sends ${c.unknown}`,
  ];
  for (const [pid, seqs] of Object.entries(c.lost_sample)) {
    out.push(`  missing ${pid}: ${seqs.join(", ")}`);
  }
  if (c.reordered) out.push(`order: ${orderFigures(c.reordered)}`);
  const a = j.alerts;
  if (a) {
    out.push(
      `alerts: incidents ${a.incidents}, matched ${a.matched}, missed ${a.missed}, ` +
        `duplicated ${a.duplicated}, false positives ${a.false_positives}, ` +
        `unsigned ${a.unsigned}, malformed ${a.malformed}, conflicting ${a.conflicting}` +
        (a.refused_too_large ? `, refused as too large ${a.refused_too_large}` : "") +
        (a.not_kept ? `, not kept (over the cap) ${a.not_kept}` : "") +
        (a.detect_ms_p50 === null ? "" : `, time to detect p50 ${a.detect_ms_p50} ms`) +
        (a.after_watermark_ms_p99 == null
          ? ""
          : `, after the watermark p99 ${a.after_watermark_ms_p99} ms`),
    );
  }
  out.push(`durability: ${durabilityFigures(j.durability)}`);
  for (const p of j.probes?.probes ?? []) {
    out.push(
      `probe ${p.name} (${p.phase}${
        p.advisory ? ", advisory" : ""
      }): ${p.verdict}, measured ${p.measured}, expected ${p.expected}`,
    );
  }
  for (const f of j.recovery?.faults ?? []) {
    out.push(
      `recovery after ${f.fault}: ${f.recovered_ms === null ? "never" : `${f.recovered_ms} ms`}`,
    );
  }
  for (const r of j.reasons) out.push(`- ${r}`);
  for (const n of j.probes?.notes ?? []) out.push(`- note: ${n}`);
  for (const n of j.durability.notes) out.push(`- note: ${n}`);
  return out;
}
