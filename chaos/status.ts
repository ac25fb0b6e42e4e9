/**
 * The run's status line (every 10 s on a terminal that is not one, in place
 * on one that is): scenario, phase, elapsed workload and acked rate, the
 * sink's lag, the faults in force and the next step. Each phase is also
 * recorded in the history.
 * @module
 */

import { StatusLine } from "../pipeline/status_line.ts";
import type { History } from "../validate/history.ts";

export interface StatusSources {
  generator?(): { elapsed_s: number; acked_eps: number } | undefined;
  sinkLag?(): number | null | undefined;
  active?(): string[];
  next?(): string;
}

export class RunStatus {
  readonly #line = new StatusLine({ everyMs: 10_000 });
  readonly #ticker: ReturnType<typeof setInterval>;
  #phase = "starting";
  sources: StatusSources = {};

  constructor(readonly scenario: string, readonly history: History) {
    this.#ticker = setInterval(() => this.show(), 1000);
  }

  phase(name: string): void {
    this.#phase = name;
    this.history.record("info", "phase", name);
    this.show();
  }

  show(): void {
    const g = this.sources.generator?.();
    const lag = this.sources.sinkLag?.();
    const active = this.sources.active?.() ?? [];
    const next = this.sources.next?.() ?? "";
    this.#line.show(
      `${this.scenario} | ${this.#phase}` +
        (g ? ` ${g.elapsed_s.toFixed(0)}s | ${g.acked_eps} ev/s acked` : "") +
        (lag === undefined || lag === null ? "" : ` | sink lag ${lag}`) +
        ` | faults: ${active.join(", ") || "none"}` +
        (next ? ` | next: ${next}` : ""),
    );
  }

  stop(): void {
    clearInterval(this.#ticker);
    this.#line.clear();
  }
}
