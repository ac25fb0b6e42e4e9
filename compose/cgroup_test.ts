import assert from "node:assert/strict";
import { join } from "node:path";
import { waitFor } from "../lib/wait.ts";
import {
  cgroupProblem,
  CpuLimit,
  cpuLimitProblem,
  limitCpuInPlace,
  parseCpuMax,
} from "./cgroup.ts";
import { readProcesses, treeCpu } from "./cpu.ts";
import { freezerLayout } from "./freezer.ts";
import { ProcessNode } from "./process_node.ts";

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

Deno.test("limitCpuInPlace: cgroup v2, the quota on the node's own cgroup (a fake root)", async () => {
  const base = await Deno.makeTempDir();
  const dir = join(base, "chaos-run", "sink");
  try {
    await Deno.mkdir(dir, { recursive: true });
    for (const at of [base, join(base, "chaos-run")]) {
      await Deno.writeTextFile(join(at, "cgroup.subtree_control"), "");
    }
    await Deno.writeTextFile(join(dir, "cpu.max"), "max 100000\n");
    await Deno.writeTextFile(join(dir, "cgroup.procs"), "41\n42\n");
    const limit = await limitCpuInPlace(base, dir, 0.25);
    assert.equal(limit.cores, 0.25);
    assert.equal(await Deno.readTextFile(join(dir, "cpu.max")), "25000 100000");
    for (const at of [base, join(base, "chaos-run")]) {
      assert.equal(await Deno.readTextFile(join(at, "cgroup.subtree_control")), "+cpu");
    }
    assert.equal(await Deno.readTextFile(join(dir, "cgroup.procs")), "41\n42\n", "nobody moved");
    await limit.lift();
    assert.equal(await Deno.readTextFile(join(dir, "cpu.max")), "max 100000");
    // A cgroup gone meanwhile (the node stopped): nothing to lift.
    await Deno.remove(base, { recursive: true });
    await limit.lift();
  } finally {
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
  await assert.rejects(limitCpuInPlace("/nonexistent", "/nonexistent/x", 1), /has no cpu.max/);
  assert.equal(parseCpuMax("max 100000"), Infinity);
});

Deno.test({
  name: "ProcessNode.limitCpu: every process of the node's cgroup, a setsid'd one included",
  ignore: problem !== undefined || freezerLayout()?.version !== 1,
}, async () => {
  const dir = await Deno.makeTempDir();
  // The wrapper sleeps; its real worker spins in a session of its own, outside its tree.
  const node = new ProcessNode({
    name: "spinner",
    cmd: "bash",
    args: [
      "-c",
      `setsid -f bash -c 'echo $$ >${join(dir, "w")}; while :; do :; done'; exec sleep 300`,
    ],
    logFile: join(dir, "log"),
    pidFile: join(dir, "pid"),
    cgroup: `chaos-test-${Deno.pid}-cpu/spinner`,
  });
  try {
    await node.start();
    const worker = await waitFor(() => {
      const pid = Number(Deno.readTextFileSync(join(dir, "w")).trim());
      return pid > 0 ? pid : false;
    }, { what: "the worker", timeoutMs: 5000 });
    const origin = Deno.readTextFileSync(`/proc/${worker}/cgroup`);
    const cpuOf = () => readProcesses().find((p) => p.pid === worker)!.cpuS;
    const limit = await node.limitCpu(0.2);
    assert.ok(Math.abs(limit.cores - 0.2) < 0.001);
    assert.match(Deno.readTextFileSync(`/proc/${worker}/cgroup`), /cpu[^:]*:\/chaos-harness\//);
    const before = cpuOf();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 2500));
    const used = (cpuOf() - before) / ((performance.now() - t0) / 1000);
    assert.ok(used <= 0.26, `the setsid'd worker used ${used.toFixed(3)} cores under 0.2`);
    await limit.lift();
    assert.equal(Deno.readTextFileSync(`/proc/${worker}/cgroup`), origin, "back where it was");
  } finally {
    await node.stop({ graceMs: 0 }).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
