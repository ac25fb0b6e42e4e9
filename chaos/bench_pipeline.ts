/**
 * `deno task bench:pipeline [--start 10000] [--factor 1.25] [--seconds 60] [--steps 10]
 * [--followers batched|eager] [--broker KEY=VALUE]... [--base-port 31800]`
 *
 * What a whole pipeline survives: the generator, the sink and the detector
 * together on one stack, no fault, through the scenario engine. It runs at
 * `--start` events/s for `--seconds`, then at `--factor` times that, and so on,
 * until a rate is not sustained, and reports the highest that was:
 *
 * - acknowledged events/s at least 95% of the rate (after a 10 s warm-up);
 * - the sink's lag under 5 s of events (p95 of the per-second samples);
 * - the detector's watermark lag, beyond its 5 s out-of-orderness bound,
 *   under 5 s (p95 of its per-second metric);
 * - the verdict `pass`: every event stored exactly once and validated against
 *   the topic, the incident alerted once.
 *
 * Each rate runs on a fresh stack; the run folders go to a temporary folder
 * (`--out` keeps them). The followers fetch at least 256 KiB or wait 50 ms
 * (`--followers batched`, the default; `eager` keeps Kafka's own 1 byte): the
 * three brokers share this host's cores with the pipeline, and at Kafka's
 * default each follower asks again for every few records, about half of the
 * brokers' CPU at 32,000 events/s (profiled: docs/reference.md), a cost a
 * cluster of its own hosts would not put on the pipeline's. `--broker` sets a
 * broker property on every broker (the scenario's `stack.broker_overrides`,
 * over the followers' two), to compare the brokers' cost under settings of
 * one's own. When even the last step holds, the figure is a lower bound:
 * raise `--steps`. The line before the last names the followers' setting. Last
 * line, exactly:
 * `pipeline_eps=<n> cpu_s_per_million=<n>` (the machine's busy CPU seconds
 * per million events at that rate; 0 and - when no rate was sustained).
 * @module
 */

import { join } from "node:path";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { ExitCode, runMain, UsageError, withInterrupt } from "../lib/exit_codes.ts";
import { say } from "../lib/progress.ts";
import { quantile } from "../lib/stats.ts";
import { parseSamples } from "../validate/samples.ts";
import type { Results } from "../validate/results.ts";
import { runScenario } from "./engine.ts";
import { validateScenario } from "./scenario.ts";

const USAGE = "usage: deno task bench:pipeline [--start 10000] [--factor 1.25] [--seconds 60] " +
  "[--steps 10] [--followers batched|eager] [--broker KEY=VALUE]... [--out DIR] " +
  "[--base-port 31800]";

/** The followers' fetch: `batched` waits for 256 KiB or 50 ms; `eager` is Kafka's default. */
export const FOLLOWERS = {
  batched: { "replica.fetch.min.bytes": "262144", "replica.fetch.wait.max.ms": "50" },
  eager: {},
} as const;

const WARMUP_MS = 10_000;
const LAG_BOUND_S = 5;
const OUT_OF_ORDER_MS = 5000;

export interface RateCheck {
  eps: number;
  sustained: boolean;
  acked_eps: number | null;
  sink_lag_s_p95: number | null;
  watermark_over_ms_p95: number | null;
  verdict: Results["verdict"];
  cpu_s_per_million: number | null;
  why: string[];
}

/** Whether the run at `eps` held: from its results, samples and metrics (pure). */
export function judgeRate(
  eps: number,
  results: Results,
  samplesText: string,
  metricsText: string,
): RateCheck {
  const from = (results.workload.started_at ?? 0) + WARMUP_MS;
  const to = results.workload.ended_at ?? 0;
  const samples = parseSamples(samplesText).filter((s) => s.t >= from && s.t < to);
  const acked = samples.length
    ? samples.reduce((sum, s) => sum + s.acked_eps, 0) / samples.length
    : null;
  const lags = samples.map((s) => s.sink_lag).filter((l): l is number => l !== null)
    .map((l) => l / eps);
  const watermark: number[] = [];
  for (const line of metricsText.split("\n")) {
    if (!line.includes('"detector"')) continue;
    const m = JSON.parse(line) as { t: number; component: string; values: Record<string, number> };
    const lag = m.values.detector_watermark_lag_seconds;
    if (m.component === "detector" && m.t >= from && m.t < to && typeof lag === "number") {
      watermark.push(Math.max(0, Math.round(lag * 1000) - OUT_OF_ORDER_MS));
    }
  }
  const check: RateCheck = {
    eps,
    sustained: true,
    acked_eps: acked === null ? null : Math.round(acked),
    sink_lag_s_p95: quantile(lags, 0.95),
    watermark_over_ms_p95: quantile(watermark, 0.95),
    verdict: results.verdict,
    cpu_s_per_million: results.cost?.machine.cpu_s_per_million ?? null,
    why: [],
  };
  if (acked === null || acked < 0.95 * eps) check.why.push(`acknowledged ${check.acked_eps}/s`);
  if (check.sink_lag_s_p95 === null || check.sink_lag_s_p95 > LAG_BOUND_S) {
    check.why.push(`sink lag p95 ${check.sink_lag_s_p95?.toFixed(1) ?? "-"} s`);
  }
  if (check.watermark_over_ms_p95 === null || check.watermark_over_ms_p95 > LAG_BOUND_S * 1000) {
    check.why.push(`detector watermark lag p95 +${check.watermark_over_ms_p95 ?? "-"} ms`);
  }
  if (results.verdict !== "pass") check.why.push(`verdict ${results.verdict}`);
  check.sustained = check.why.length === 0;
  return check;
}

/** `--broker KEY=VALUE` flags as broker properties (undefined for none); a flag without `=` is a usage error. */
export function brokerFlags(flags: readonly string[]): Record<string, string> | undefined {
  if (flags.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const at = flag.indexOf("=");
    if (at <= 0) throw new UsageError(`--broker wants KEY=VALUE, got "${flag}"\n${USAGE}`);
    out[flag.slice(0, at).trim()] = flag.slice(at + 1).trim();
  }
  return out;
}

/** The brokers' properties of a run: the followers' setting, then `--broker`'s over it. */
export function brokerSettings(
  followers: string,
  flags: readonly string[],
): Record<string, string> | undefined {
  if (followers !== "batched" && followers !== "eager") {
    throw new UsageError(`--followers is batched or eager, got "${followers}"\n${USAGE}`);
  }
  const all = { ...FOLLOWERS[followers], ...brokerFlags(flags) };
  return Object.keys(all).length ? all : undefined;
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      start: { type: "string", default: "10000" },
      factor: { type: "string", default: "1.25" },
      seconds: { type: "string", default: "60" },
      steps: { type: "string", default: "10" },
      out: { type: "string" },
      followers: { type: "string", default: "batched" },
      broker: { type: "string", multiple: true },
      "base-port": { type: "string", default: "31800" },
    }, USAGE);
    const basePort = intFlag("base-port", values["base-port"], { min: 1024, max: 65335 })!;
    const [start, factor, seconds, steps] = [
      values.start,
      values.factor,
      values.seconds,
      values.steps,
    ]
      .map(Number);
    const brokerOverrides = brokerSettings(values.followers, values.broker ?? []);
    const out = values.out ?? await Deno.makeTempDir({ prefix: "bench-pipeline-" });
    return await withInterrupt(async (signal) => {
      let best: RateCheck | undefined;
      try {
        for (let i = 0, eps = start; i < steps; i++, eps = Math.round(eps * factor)) {
          say(`pipeline at ${eps} events/s for ${seconds} s`);
          const scenario = validateScenario({
            name: "bench-pipeline",
            description: `the whole pipeline at ${eps} events/s, no fault`,
            seed: 1,
            workload: {
              eps,
              duration: `${seconds}s`,
              incidents: [{ at: "15s", kind: "exfil", duration: "20s" }],
            },
            detector: { out_of_order: `${OUT_OF_ORDER_MS}ms` },
            checks: { settle: "90s" },
            ...(brokerOverrides ? { stack: { broker_overrides: brokerOverrides } } : {}),
          }, "bench:pipeline");
          const { results, runDir } = await runScenario(scenario, {
            outDir: out,
            signal,
            basePort,
          });
          const check = judgeRate(
            eps,
            results,
            await Deno.readTextFile(join(runDir, "samples.jsonl")).catch(() => ""),
            await Deno.readTextFile(join(runDir, "metrics.jsonl")).catch(() => ""),
          );
          say(
            `  ${check.sustained ? "held" : "not held"}: acknowledged ${check.acked_eps}/s, ` +
              `sink lag p95 ${check.sink_lag_s_p95?.toFixed(2) ?? "-"} s, watermark lag p95 +${
                check.watermark_over_ms_p95 ?? "-"
              } ms, verdict ${check.verdict}, ${check.cpu_s_per_million ?? "-"} CPU-s per million` +
              (check.why.length ? ` (${check.why.join("; ")})` : ""),
          );
          if (!check.sustained) break;
          best = check;
        }
      } finally {
        if (!values.out) await Deno.remove(out, { recursive: true }).catch(() => {});
      }
      console.log(
        `brokers: followers ${values.followers}${
          brokerOverrides
            ? ` (${Object.entries(brokerOverrides).map(([k, v]) => `${k}=${v}`).join(", ")})`
            : ""
        }`,
      );
      console.log(
        `pipeline_eps=${best?.eps ?? 0} cpu_s_per_million=${best?.cpu_s_per_million ?? "-"}`,
      );
      return ExitCode.Pass;
    });
  });
}
