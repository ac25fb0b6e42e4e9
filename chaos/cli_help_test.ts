/**
 * Every task of deno.json that runs a script answers `--help` with its usage
 * and exit 0, and starts nothing (no stack, no provisioning).
 */

import assert from "node:assert/strict";
import { runDeno } from "../compose/testing.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
const scripts = Object.entries(config.tasks as Record<string, string>)
  .map(([task, command]) => [task, command.match(/^deno run -A (\S+\.ts)$/)?.[1]] as const)
  .filter((t): t is readonly [string, string] => t[1] !== undefined);

Deno.test("every task answers --help with its usage and exit 0", async (t) => {
  assert.ok(scripts.length >= 15, `only ${scripts.length} tasks found`);
  for (const [task, script] of scripts) {
    await t.step(`deno task ${task} --help`, async () => {
      const res = await runDeno([script, "--help"]);
      assert.equal(res.code, 0, `${task}: exit ${res.code}\n${res.stdout}${res.stderr}`);
      assert.match(res.stdout, /^usage: deno task /, `${task}: ${res.stdout}${res.stderr}`);
      assert.doesNotMatch(res.stderr, /starting|provision/i, `${task} started something`);
    });
  }
});
