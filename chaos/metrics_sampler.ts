/**
 * Samples every component's Prometheus metrics once a second into the run
 * folder (`metrics.jsonl`: `{t, component, values}` per component and second),
 * so no Prometheus server is needed to look at a run afterwards. Components
 * are either HTTP `/metrics` endpoints (the sink and the detector) or
 * registries in this process (the generator). A component that does not
 * answer is skipped for that second.
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
          const text = typeof source === "string"
            ? await (await fetch(source, { signal: AbortSignal.timeout(800) })).text()
            : await source.metrics();
          return JSON.stringify({ t, component, values: parsePromText(text) });
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
