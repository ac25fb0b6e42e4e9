import assert from "node:assert/strict";
import { parseSamples } from "./samples.ts";
import { UnreadableEvidenceError } from "./unreadable.ts";

const sample = (t: number) => ({
  t,
  elapsed_ms: t - 1_700_000_000_000,
  acked_eps: 5000,
  acked: 5000,
  p95_send_ms: 12,
  sink_lag: null,
  faults: [],
  under_replicated: 0,
  min_isr: 3,
});

const text = (lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join("\n") + "\n";

Deno.test("parseSamples: reads what the engine writes", () => {
  const lines = [sample(1_700_000_000_000), sample(1_700_000_001_000)];
  assert.deepEqual(parseSamples(text(lines)), lines);
});

Deno.test("parseSamples: a torn line, a time no date holds or a bad count is unreadable evidence", () => {
  const good = text([sample(1_700_000_000_000), sample(1_700_000_001_000)]);
  const cases: [string, RegExp][] = [
    [good + '{"t":1700000002000,"elap', /samples\.jsonl line 3: not JSON/],
    [text([sample(1e16)]), /line 1: t: must be an epoch ms/],
    [text([{ ...sample(1_700_000_000_000), acked_eps: "NaN" }]), /line 1: acked_eps/],
    [text([{ ...sample(1_700_000_000_000), acked: -5 }]), /line 1: acked/],
    [text([{ ...sample(1_700_000_000_000), faults: "kill" }]), /line 1: faults/],
    [good + "1e400\n", /line 3/],
    [good + "[]\n", /line 3/],
  ];
  for (const [input, says] of cases) {
    assert.throws(
      () => parseSamples(input),
      (e) => e instanceof UnreadableEvidenceError && says.test(e.message),
      input.slice(-60),
    );
  }
});
