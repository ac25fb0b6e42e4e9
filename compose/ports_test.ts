import assert from "node:assert/strict";
import { allPorts, portPlan } from "./ports.ts";
import { UsageError } from "../lib/exit_codes.ts";

Deno.test("portPlan() derives every port from the base and never repeats one", () => {
  const plan = portPlan(29000, 3);
  assert.deepEqual(plan.brokers[0].client, { real: 29110, proxy: 29111 });
  assert.deepEqual(plan.brokers[2].controller, { real: 29134, proxy: 29135 });
  assert.deepEqual(plan.toxiproxy, 29030);
  const ports = allPorts(plan);
  assert.deepEqual(new Set(ports).size, ports.length);
});

Deno.test("portPlan() of two bases do not overlap when 1000 apart", () => {
  const a = new Set(allPorts(portPlan(29000, 3)));
  for (const p of allPorts(portPlan(30000, 3))) assert.deepEqual(a.has(p), false);
});

Deno.test("portPlan() rejects bad input with a UsageError", () => {
  assert.throws(() => portPlan(80, 3), UsageError);
  assert.throws(() => portPlan(29000, 0), UsageError);
  assert.throws(() => portPlan(29000.5, 3), UsageError);
});

Deno.test("portPlan(): one quorum proxy per pair and direction, above the brokers' ports", () => {
  const plan = portPlan(29000, 3);
  assert.deepEqual(plan.brokers[0].quorum, { 1: 29211, 2: 29212, 3: 29213 });
  assert.deepEqual(plan.brokers[2].quorum[1], 29231);
  const nine = allPorts(portPlan(29000, 9));
  assert.deepEqual(new Set(nine).size, nine.length);
  assert.ok(Math.max(...nine) < 29300);
});
