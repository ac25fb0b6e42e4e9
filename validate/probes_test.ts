import assert from "node:assert/strict";
import { abortingProbe, checkProbes, type Phases, type Probe } from "./probes.ts";
import type { Sample } from "./samples.ts";

const T0 = 1_000_000;
/** 60 s of samples: 10k ev/s, 20 ms p95; from 20 s to 40 s (the fault) 2k ev/s and 900 ms. */
function samples(): Sample[] {
  return Array.from({ length: 60 }, (_, i) => {
    const inFault = i >= 20 && i < 40;
    return {
      t: T0 + i * 1000,
      elapsed_ms: i * 1000,
      acked_eps: inFault ? 2000 : 10_000,
      acked: i * 10_000,
      p95_send_ms: inFault ? 900 : 20,
      sink_lag: inFault ? 50_000 : 5000,
      faults: inFault ? ["latency all-brokers"] : [],
    };
  });
}
const phases: Phases = {
  workloadStart: T0,
  workloadEnd: T0 + 60_000,
  firstInject: T0 + 20_000,
  lastHeal: T0 + 40_000,
};
const probe = (p: Partial<Probe>): Probe => ({
  metric: "acked_eps",
  stat: "mean",
  op: ">=",
  value: 0,
  phase: "before",
  ...p,
});

Deno.test("checkProbes passes probes that hold in their phase", () => {
  const r = checkProbes(
    [
      probe({ value: 9000 }),
      probe({ metric: "p95_send_ms", stat: "max", op: "<=", value: 1000, phase: "during" }),
      probe({ value: 9000, phase: "after" }),
      probe({ metric: "sink_lag_s", stat: "max", op: "<=", value: 1, phase: "after" }),
    ],
    samples(),
    phases,
    10_000,
  );
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  assert.equal(r.probes[0].samples, 15); // 5 s warm-up excluded
  assert.equal(r.probes[2].samples, 10); // from 10 s after the last heal
});

Deno.test("checkProbes fails a probe broken during the faults, naming it and the figure", () => {
  const r = checkProbes(
    [
      probe({
        name: "p95 under 500 ms",
        metric: "p95_send_ms",
        stat: "p95",
        op: "<=",
        value: 500,
        phase: "during",
      }),
    ],
    samples(),
    phases,
  );
  assert.equal(r.verdict, "fail");
  assert.match(r.reasons[0], /p95 under 500 ms.*measured 900, expected <= 500/);
});

Deno.test("checkProbes: a steady state never reached is unknown, not fail", () => {
  const r = checkProbes([probe({ value: 20_000 })], samples(), phases);
  assert.equal(r.verdict, "unknown");
  assert.match(r.reasons[0], /never reached/);
});

Deno.test("checkProbes: a phase without samples is unknown", () => {
  const r = checkProbes([probe({ phase: "during" })], samples(), {
    ...phases,
    firstInject: null,
    lastHeal: null,
  });
  assert.equal(r.verdict, "unknown");
  assert.match(r.reasons[0], /no samples/);
});

Deno.test("checkProbes: an advisory probe is reported and noted, never part of the verdict", () => {
  const r = checkProbes(
    [
      probe({ name: "target rate", value: 20_000, advisory: true }),
      probe({ metric: "p95_send_ms", stat: "max", op: "<=", value: 100, phase: "during" }),
    ],
    samples(),
    phases,
  );
  // The held probe fails the run; the advisory one that did not hold only adds a note.
  assert.equal(r.verdict, "fail");
  assert.equal(r.reasons.length, 1);
  assert.match(r.reasons[0], /p95_send_ms/);
  assert.equal(r.probes[0].advisory, true);
  assert.equal(r.probes[0].verdict, "unknown");
  assert.deepEqual(r.notes, ['probe "target rate": measured 10000, expected >= 20000 (advisory)']);
  const alone = checkProbes([probe({ value: 20_000, advisory: true })], samples(), phases);
  assert.equal(alone.verdict, "pass");
  assert.deepEqual(alone.reasons, []);
});

Deno.test("checkProbes: Kafka's health as probe metrics (under-replicated, offline, min ISR)", () => {
  const withHealth = samples().map((s, i) => ({
    ...s,
    under_replicated: i >= 20 && i < 40 ? 2 : 0,
    offline_partitions: 0,
    min_isr: i >= 20 && i < 40 ? 2 : 3,
  }));
  const r = checkProbes(
    [
      probe({ metric: "min_isr", stat: "min", op: ">=", value: 2, phase: "during" }),
      probe({ metric: "offline_partitions", stat: "max", op: "<=", value: 0, phase: "during" }),
      probe({ metric: "under_replicated", stat: "max", op: "<=", value: 0, phase: "after" }),
    ],
    withHealth,
    phases,
  );
  assert.equal(r.verdict, "pass", r.reasons.join("; "));
  const broken = checkProbes(
    [probe({ metric: "under_replicated", stat: "max", op: "<=", value: 0, phase: "during" })],
    withHealth,
    phases,
  );
  assert.equal(broken.verdict, "fail");
  assert.match(broken.reasons[0], /measured 2, expected <= 0/);
  // Runs from before health was sampled: no value, so the probe has no samples (unknown).
  const old = checkProbes([probe({ metric: "min_isr", phase: "during" })], samples(), phases);
  assert.equal(old.verdict, "unknown");
});

Deno.test("abortingProbe: an abort probe trips live once its phase lasted its grace", () => {
  const all = samples();
  const upTo = (s: number) => all.filter((x) => x.t < T0 + s * 1000);
  const slow = probe({ name: "rate", value: 5000, phase: "during", abort: true, grace_s: 3 });
  const live = (now: number, firstInject: number | null = T0 + 20_000) => ({
    workloadStart: T0,
    now: T0 + now * 1000,
    firstInject,
    lastHeal: null,
  });
  // Before the fault the during phase has not begun; 2 s into it the grace has not passed.
  assert.equal(abortingProbe([slow], upTo(15), live(15, null)), undefined);
  assert.equal(abortingProbe([slow], upTo(22), live(22)), undefined);
  const tripped = abortingProbe([slow], upTo(24), live(24));
  assert.deepEqual(tripped, { name: "rate", measured: 2000, expected: ">= 5000", phase: "during" });
  // The same bound without `abort` is left to the verdict.
  assert.equal(abortingProbe([{ ...slow, abort: false }], upTo(30), live(30)), undefined);
  // A probe that holds does not trip; the after phase begins only once the last heal is known.
  assert.equal(abortingProbe([{ ...slow, value: 1000 }], upTo(30), live(30)), undefined);
  const after = probe({ value: 9000, phase: "after", abort: true });
  assert.equal(abortingProbe([after], all, { ...live(59), lastHeal: null }), undefined);
  assert.equal(abortingProbe([after], all, { ...live(59), lastHeal: T0 + 40_000 }), undefined);
  const afterHigh = { ...after, value: 20_000 };
  assert.equal(
    abortingProbe([afterHigh], all, { ...live(59), lastHeal: T0 + 40_000 })?.measured,
    10_000,
  );
  // A before probe trips in its own phase (default grace: 5 s after the 5 s warm-up).
  const steady = probe({ value: 20_000, abort: true });
  assert.equal(abortingProbe([steady], upTo(9), live(9, null)), undefined);
  assert.equal(abortingProbe([steady], upTo(11), live(11, null))?.phase, "before");
});
