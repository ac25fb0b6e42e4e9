import assert from "node:assert/strict";
import { UsageError } from "../lib/exit_codes.ts";
import { GENERATOR_KNOBS, resolveKnobs } from "./knobs.ts";
import { parseDuration } from "../lib/duration.ts";

Deno.test("knobs: flags beat the environment, which beats the default", () => {
  const k = resolveKnobs(GENERATOR_KNOBS, {
    flags: { eps: "20000" },
    env: { EPS_TARGET: "5", WORKER_COUNT: "8", CHAOS_MODE: "yes", KAFKA_BROKERS: "a:1, b:2" },
  });
  assert.equal(k.EPS_TARGET, 20000);
  assert.equal(k.WORKER_COUNT, 8);
  assert.equal(k.CHAOS_MODE, true);
  assert.deepEqual(k.KAFKA_BROKERS, ["a:1", "b:2"]);
  assert.equal(k.DURATION, 60_000);
});

Deno.test("knobs: every bad value is reported at once, naming the knob and the value", () => {
  try {
    resolveKnobs(GENERATOR_KNOBS, {
      flags: { duration: "ten" },
      env: { EPS_TARGET: "-3", DATA_EXFIL_PROB: "1.5", CHAOS_MODE: "maybe" },
    });
    assert.fail("accepted");
  } catch (error) {
    assert.ok(error instanceof UsageError);
    const m = (error as Error).message;
    assert.match(m, /--duration must be a duration.*got "ten"/);
    assert.match(m, /EPS_TARGET must be at least 1, got "-3"/);
    assert.match(m, /DATA_EXFIL_PROB must be at most 1, got "1.5"/);
    assert.match(m, /CHAOS_MODE must be true or false, got "maybe"/);
  }
});

Deno.test("parseDuration understands ms, s, m, h and plain seconds", () => {
  assert.equal(parseDuration("1500ms"), 1500);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("5"), 5000);
  assert.equal(parseDuration("5 minutes"), undefined);
});
