/**
 * graded-smoke as the tests grade their cheating submissions with it: the same
 * workload, incidents, sink restarts and webhook 503s, only a settle of 12 s
 * instead of 40 s. A cheat's detector that alerts nothing (or a sink that never
 * commits) costs the whole settle, and every finding the tests name is made by
 * then (an honest pipeline settles within ~8 s). Expected verdict: fail for
 * every cheat (reports/grade_test.ts names each one's findings).
 */
import { defineScenario } from "../../chaos/scenario.ts";
import smoke from "../graded-smoke.ts";

export default defineScenario({
  ...smoke,
  name: "graded-smoke-cheats",
  description: `${smoke.description}; settle 12 s (the tests' cheats)`,
  checks: { ...smoke.checks, settle: "12s" },
});
