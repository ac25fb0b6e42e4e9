import assert from "node:assert/strict";
import { join } from "node:path";
import { ProcessNode, processState } from "./process_node.ts";

function sleeper(dir: string): ProcessNode {
  return new ProcessNode({
    name: "sleeper",
    cmd: "sleep",
    args: ["300"],
    logFile: join(dir, "sleeper.log"),
    pidFile: join(dir, "sleeper.pid"),
  });
}

Deno.test("ProcessNode: start, pause, resume, stop, kill a real process", async (t) => {
  const dir = await Deno.makeTempDir();
  const node = sleeper(dir);
  try {
    await t.step("start records pid and start time", async () => {
      await node.start();
      const pid = node.pid();
      assert.ok(pid !== undefined);
      assert.equal(node.state(), "running");
      assert.match(await Deno.readTextFile(join(dir, "sleeper.pid")), /^\d+ \d+$/);
    });
    await t.step("pause freezes, resume thaws", async () => {
      await node.pause();
      assert.equal(node.state(), "paused");
      await node.resume();
      assert.equal(node.state(), "running");
    });
    await t.step("stop works on a paused process (SIGCONT before SIGTERM)", async () => {
      await node.pause();
      const pid = node.pid()!;
      await node.stop({ graceMs: 5000 });
      assert.equal(node.state(), "dead");
      assert.equal(processState(pid), "dead");
    });
    await t.step("start again, then kill", async () => {
      await node.start();
      assert.equal(node.state(), "running");
      await node.kill();
      assert.equal(node.state(), "dead");
    });
    await t.step("a recycled pid (other start time) is never taken for ours", async () => {
      await Deno.writeTextFile(join(dir, "sleeper.pid"), `${Deno.pid} 1`);
      assert.equal(node.pid(), undefined);
      assert.equal(node.state(), "dead");
      await node.kill(); // must not signal this test process
    });
    await t.step("a missing binary is a clear error", async () => {
      const bad = new ProcessNode({
        name: "nope",
        cmd: "/nonexistent/binary",
        args: [],
        logFile: join(dir, "nope.log"),
        pidFile: join(dir, "nope.pid"),
      });
      await bad.start().catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(bad.state(), "dead");
      assert.match(await bad.tail(), /nonexistent|not found/);
    });
  } finally {
    await node.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
