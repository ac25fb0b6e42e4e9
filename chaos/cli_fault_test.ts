/**
 * Game days on the real local stack: `deno task fault inject` stays with its
 * fault until `fault heal` (another process) or its `--for` ends it, and heals;
 * `fault list` shows what is active; what `deno task down` does first (heal
 * every active fault through its owner) leaves nothing frozen.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { activeFaults, gamedayDir, healActive } from "../compose/gameday.ts";
import { runDeno, slow, spawnFaultInject, testStack } from "../compose/testing.ts";
import { waitFor } from "../lib/wait.ts";

Deno.test({ name: "fault inject / list / heal against a running stack", ...slow }, async (t) => {
  const { stack, release } = await testStack();
  const name = stack.name;
  const spawnInject = (...args: string[]) => spawnFaultInject(name, args);
  const fault = (...args: string[]) => runDeno(["chaos/cli_fault.ts", ...args, "--name", name]);
  const activeOn = (node: string) =>
    waitFor(async () => (await activeFaults(name)).some((f) => f.nodes.includes(node)), {
      what: `an active fault on ${node}`,
      timeoutMs: 60_000,
      intervalMs: 200,
    });
  try {
    await t.step("inject pause; list shows it; heal --all from another process", async () => {
      const owner = spawnInject("pause", "broker:2");
      await activeOn("kafka-2");
      assert.equal(stack.broker(2).state(), "paused");
      const list = await fault("list");
      assert.match(list.stdout, /f-\w+ +pause broker:2 on kafka-2 since .* until healed/);
      const heal = await fault("heal", "--all");
      assert.equal(heal.code, 0, heal.stderr);
      const out = await owner.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(new TextDecoder().decode(out.stdout), /healed: \{"resumed":\["kafka-2"\]\}/);
      assert.equal(stack.broker(2).state(), "running");
      assert.deepEqual(await activeFaults(name), []);
    });

    await t.step("inject latency --for 2s heals by itself", async () => {
      const res = await fault(
        "inject",
        "latency",
        "broker:1",
        "--param",
        "latency_ms=100",
        "--for",
        "2s",
      );
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /latency broker:1 on kafka-1/);
      assert.match(res.stdout, /healed/);
      const proxies = await stack.toxiproxy.proxies();
      const toxics = Object.values(proxies).flatMap((p) => p.toxics ?? []);
      assert.deepEqual(toxics, [], "no toxic left");
    });

    await t.step("what down does first: every active fault healed by its owner", async () => {
      const owner = spawnInject("pause", "broker:3");
      await activeOn("kafka-3");
      const healed = await healActive(name);
      assert.equal(healed.length, 1);
      assert.equal((await owner.output()).code, 0);
      assert.equal(stack.broker(3).state(), "running");
      const history = await Deno.readTextFile(join(gamedayDir(name), "history.jsonl"));
      const events = history.trim().split("\n").map((l) => JSON.parse(l).type);
      assert.deepEqual(events.slice(-2), ["inject", "heal"]);
    });

    await t.step("a bad fault exits 2 before touching the stack", async () => {
      const res = await fault("inject", "latency", "broker:1", "--param", "latency_ms=fast");
      assert.equal(res.code, 2, res.stdout + res.stderr);
      assert.match(res.stderr, /faults\.0\.params\.latency_ms/);
    });
  } finally {
    await healActive(name).catch(() => {});
    await release();
  }
});
