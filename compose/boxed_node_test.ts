/**
 * A graded component as a run starts it (chaos/components.ts): a ProcessNode in a freezer cgroup,
 * its command the box's argv behind the harness's log cap. A component that floods its output
 * and then outgrows its box's memory leaves a capped log that says both.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { waitFor } from "../lib/wait.ts";
import { cappedArgv } from "./log_cap.ts";
import { ProcessNode } from "./process_node.ts";
import { openSandbox, processesOf, sandboxSupport } from "./sandbox.ts";

const why = sandboxSupport();
if (why) console.warn(`compose/boxed_node_test.ts: skipped: ${why}`);

Deno.test({
  name: "a boxed component that floods its log and outgrows its memory: the log is capped and " +
    "names the OOM kill, the host keeps what the cap allows",
  ignore: why !== null,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "chaos-boxed-node-" });
    const box = await openSandbox({ source: tmp, bounds: { diskMb: 32, memoryMb: 64 } });
    const log = join(tmp, "sink.log");
    const cap = 4096;
    // 1 MB of output, then 300 MiB held in memory (`tail -c` of a pipe keeps it all).
    const script = "head -c 1000000 /dev/zero | tr '\\0' x; head -c 300M /dev/zero | tail -c 300M";
    const argv = cappedArgv(box.wrap(["bash", "-c", script]), {
      who: "the sink",
      capBytes: cap,
      memoryCgroup: box.memoryCgroup,
    });
    const node = new ProcessNode({
      name: "sink",
      cmd: argv[0],
      args: argv.slice(1),
      cwd: box.cwd,
      env: box.env(),
      clearEnv: true,
      logFile: log,
      pidFile: join(tmp, "sink.pid"),
      cgroup: `chaos-boxed-node-test-${box.uid}/sink`,
    });
    try {
      await node.start();
      await waitFor(() => node.state() === "dead", { what: "the sink to die", timeoutMs: 60_000 });
      // The wrapper writes its last line as it exits: the node is dead once it has.
      const text = await Deno.readTextFile(log);
      assert.ok(text.startsWith("x".repeat(cap) + "\n[chaos-harness] log truncated"), text);
      assert.match(
        text,
        /\[chaos-harness\] the sink's sandbox reached its memory bound \(64 MiB\): the kernel's OOM killer killed \d+ of its processes\n$/,
      );
      assert.ok(text.length < cap + 1000, `${text.length} bytes kept`);
      assert.ok(box.memory()!.oomKills >= 1);
    } finally {
      await node.stop({ graceMs: 1000 });
      assert.deepEqual((await box.close()).survivors, []);
      await Deno.remove(tmp, { recursive: true });
    }
    assert.deepEqual(processesOf(box.uid), []);
  },
});
