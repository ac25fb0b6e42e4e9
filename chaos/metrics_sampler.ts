/**
 * Samples every component's Prometheus metrics once a second into the run
 * folder (`metrics.jsonl`: `{t, component, values}` per component and second),
 * so no Prometheus server is needed to look at a run afterwards. Components
 * are either HTTP `/metrics` endpoints (the sink and the detector) or
 * registries in this process (the generator). A component that does not
 * answer is skipped for that second. A component's answer is bounded: at most
 * MAX_METRICS_BYTES of it are read and MAX_SERIES series kept (then the line
 * says `truncated: true`), so a graded pipeline cannot fill the harness's
 * memory or the run folder through its `/metrics`.
 *
 * ```ts
 * const sampler = new MetricsSampler(join(runDir, "metrics.jsonl"), {
 *   sink: "http://127.0.0.1:29651/metrics",
 *   generator: generator.metrics,
 * });
 * sampler.start(); ... ; await sampler.stop();
 * ```
 * @module
 */

import type { Registry } from "prom-client";
import { parsePromText } from "../reports/prom_text.ts";

export type MetricsSource = string | Registry;

/** The most of a component's `/metrics` answer read, in bytes. */
export const MAX_METRICS_BYTES = 2 ** 20;
/** The most series kept of one component's sample. */
export const MAX_SERIES = 1000;

/**
 * The text of `response`, at most `max` bytes of it; past `max` the rest is not read, and the
 * line cut in the middle is dropped. `truncated`: whether it was cut.
 */
export async function readCapped(
  response: Response,
  max = MAX_METRICS_BYTES,
): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: "", truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.length > max) {
      chunks.push(value.subarray(0, max - size));
      size = max;
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
    size += value.length;
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) bytes.set(c, at), at += c.length;
  let text = new TextDecoder().decode(bytes);
  if (truncated) text = text.slice(0, text.lastIndexOf("\n") + 1);
  return { text, truncated };
}

/** The first `max` series of `values`; `truncated`: whether there were more. */
export function capSeries(
  values: Record<string, number>,
  max = MAX_SERIES,
): { values: Record<string, number>; truncated: boolean } {
  const keys = Object.keys(values);
  if (keys.length <= max) return { values, truncated: false };
  return {
    values: Object.fromEntries(keys.slice(0, max).map((k) => [k, values[k]])),
    truncated: true,
  };
}

/** The JSON line of one component's sample, bounded (MAX_METRICS_BYTES, MAX_SERIES). */
export function sampleLine(t: number, component: string, text: string, cut = false): string {
  const { values, truncated } = capSeries(parsePromText(text));
  return JSON.stringify({ t, component, values, ...(truncated || cut ? { truncated: true } : {}) });
}

export class MetricsSampler {
  readonly #file: string;
  readonly #sources: Record<string, MetricsSource>;
  #timer?: ReturnType<typeof setInterval>;
  #busy = false;

  constructor(file: string, sources: Record<string, MetricsSource>) {
    this.#file = file;
    this.#sources = sources;
  }

  start(everyMs = 1000): void {
    Deno.writeTextFileSync(this.#file, "");
    this.#timer = setInterval(() => {
      if (this.#busy) return; // a slow endpoint skips a second rather than piling up
      this.#busy = true;
      this.#sample().finally(() => (this.#busy = false));
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #sample(): Promise<void> {
    const t = Date.now();
    const lines = await Promise.all(
      Object.entries(this.#sources).map(async ([component, source]) => {
        try {
          if (typeof source !== "string") return sampleLine(t, component, await source.metrics());
          const response = await fetch(source, { signal: AbortSignal.timeout(800) });
          const { text, truncated } = await readCapped(response);
          return sampleLine(t, component, text, truncated);
        } catch {
          return undefined;
        }
      }),
    );
    const text = lines.filter(Boolean).map((l) => l + "\n").join("");
    if (text) {
      try {
        Deno.writeTextFileSync(this.#file, text, { append: true });
      } catch { /* the run folder went away */ }
    }
  }
}
