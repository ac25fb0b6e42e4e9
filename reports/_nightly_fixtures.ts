/**
 * Made-up nights for the nightly's tests: a scenario's figures on a good night (`good`, which
 * each test varies), and a history for the announcement's tests (reports/nightly_notify_test.ts,
 * chaos/nightly_finish_test.ts): broker-restart breaks tonight, flaky recovers, sink-slow
 * recovers slower than its baseline.
 * @module
 */

import type { Figures, NightSummary } from "./nightly.ts";

/** A scenario's figures on a good night. */
export const good: Figures = {
  verdict: "pass",
  expect: "pass",
  as_expected: true,
  seed: 1,
  lost: 0,
  recovery_ms: 10_000,
  acked_eps: 9000,
  detection_p99_ms: 6000,
  run: "runs/x",
};
export const failing: Partial<Figures> = { verdict: "fail", as_expected: false, lost: 12 };

/** Three made-up nights: broker-restart breaks on the 2nd, flaky recovers, sink slows down. */
export function madeUpHistory(): { nights: NightSummary[]; tonight: NightSummary } {
  const night = (date: string, over: Record<string, Partial<Figures>>): NightSummary => ({
    date,
    scenarios: Object.fromEntries(
      ["broker-restart", "flaky", "sink-slow", "steady"].map((s) => [s, { ...good, ...over[s] }]),
    ),
  });
  const nights = [
    night("2026-11-18", { flaky: failing }),
    night("2026-11-19", { flaky: failing }),
  ];
  const tonight = night("2026-11-20", {
    "broker-restart": failing,
    "sink-slow": { recovery_ms: 60_000 },
  });
  return { nights, tonight };
}
