import assert from "node:assert/strict";
import { cgroupProblem, CpuLimit, cpuLimitProblem } from "./cgroup.ts";
import { readProcesses, treeCpu } from "./cpu.ts";

const problem = cpuLimitProblem();

Deno.test({
  name: "CpuLimit: a busy loop held to 0.2 core, then lifted and its cgroup gone",
  ignore: problem !== undefined,
}, async () => {
  const child = new Deno.Command("sh", { args: ["-c", "while :; do :; done"] }).spawn();
  try {
    const cpuOf = () => treeCpu(readProcesses(), new Map([["loop", child.pid]])).get("loop")!;
    const origin = Deno.readTextFileSync(`/proc/${child.pid}/cgroup`);
    const limit = await CpuLimit.apply(`test-${child.pid}`, [child.pid], 0.2);
    assert.ok(Math.abs((await limit.readBack()) - 0.2) < 0.001);
    assert.deepEqual(await limit.members(), [child.pid]);
    const before = cpuOf();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const used = (cpuOf() - before) / ((performance.now() - t0) / 1000);
    assert.ok(used <= 0.26, `used ${used.toFixed(3)} cores under a 0.2 limit`);
    await limit.lift();
    assert.equal(Deno.readTextFileSync(`/proc/${child.pid}/cgroup`), origin, "back where it was");
    assert.throws(() => Deno.statSync(limit.dir), Deno.errors.NotFound);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("cgroupProblem: a host without the controller, or without the right, is named", () => {
  assert.equal(
    cgroupProblem(
      "cpu",
      null,
      "a cgroup cpu controller (cgroup v1 cpu.cfs_quota_us or v2 cpu.max)",
    ),
    "the cpu fault needs a cgroup cpu controller (cgroup v1 cpu.cfs_quota_us or v2 cpu.max), " +
      "and this host has neither",
  );
  const file = Deno.makeTempFileSync();
  try {
    // A "hierarchy" where no cgroup can be made (a file, not a folder).
    assert.match(
      cgroupProblem("memory", { version: 1, base: file }, "a memory controller")!,
      /^the memory fault cannot make a cgroup under .*; it needs root$/,
    );
  } finally {
    Deno.removeSync(file);
  }
});
