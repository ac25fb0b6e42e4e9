/**
 * `deno task fault inject` checks a fault's params with its kind's own schema before it looks
 * for a stack: bad params exit 2 naming each with its path (no stack needed).
 */

import assert from "node:assert/strict";
import { runDeno } from "../compose/testing.ts";

const inject = (...args: string[]) =>
  runDeno(["chaos/cli_fault.ts", "inject", ...args, "--name", "no-such-stack-params-test"]);

Deno.test("fault inject: params out of bounds, unknown or missing exit 2 with their paths", async () => {
  const bad = await inject(
    "latency",
    "broker:1",
    "--param",
    "latency_ms=90000",
    "--param",
    "rate_kbps=8",
  );
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /faults\.0\.params\.latency_ms: Too big: expected number to be <=60000/);
  assert.match(bad.stderr, /faults\.0\.params\.rate_kbps: is not a param of latency \(it reads:/);
  const missing = await inject("cpu", "broker:2");
  assert.equal(missing.code, 2, missing.stdout + missing.stderr);
  assert.match(missing.stderr, /faults\.0\.params\.cores: is required for cpu/);
  // Good params pass the check: what fails then is the missing stack (exit 2 as well).
  const good = await inject("latency", "broker:1", "--param", "latency_ms=5");
  assert.equal(good.code, 2);
  assert.match(good.stderr, /no stack named "no-such-stack-params-test" is running/);
});
