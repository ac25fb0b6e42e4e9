import assert from "node:assert/strict";
import { join } from "node:path";
import { sleep } from "../lib/wait.ts";
import {
  CgroupSurvivorsError,
  freezerDir,
  freezerLayout,
  freezerUsable,
  LEFTOVER_AGE_MS,
  leftovers,
  openFreezer,
} from "./freezer.ts";
import { ProcessNode, processState } from "./process_node.ts";

/** The session id of `pid` (field 6 of /proc/<pid>/stat). */
function sessionOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
  } catch {
    return undefined;
  }
}

/** A node whose real worker escapes into a session of its own (`setsid -f`) and counts. */
function escaper(dir: string, cgroup: string): ProcessNode {
  const worker = `i=0; while :; do i=$((i+1)); echo $i >${join(dir, "counter")}; sleep 0.05; done`;
  return new ProcessNode({
    name: "escaper",
    cmd: "bash",
    args: ["-c", `setsid -f bash -c '${worker}'; sleep 1000`],
    logFile: join(dir, "escaper.log"),
    pidFile: join(dir, "escaper.pid"),
    cgroup,
  });
}

/** The worker: the member that leads a session other than the node's own. */
async function workerOf(node: ProcessNode): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const leader = node.pid();
    const worker = (node.members() ?? []).find((p) => p !== leader && sessionOf(p) === p);
    if (worker !== undefined) return worker;
    await sleep(50);
  }
  throw new Error("the setsid'd worker never showed in the cgroup");
}

const counter = async (dir: string) =>
  Number((await Deno.readTextFile(join(dir, "counter")).catch(() => "0")).trim());

Deno.test("freezerDir: each part of the name made safe, below the hierarchy", () => {
  assert.equal(
    freezerDir("/sys/fs/cgroup/freezer", "chaos-a b/sink"),
    "/sys/fs/cgroup/freezer/chaos-a_b/sink",
  );
  assert.equal(freezerDir("/x", "/../evil/./x"), "/x/_/evil/_/x", "never out of the hierarchy");
});

Deno.test({
  name: "ProcessNode with a cgroup: faults reach a worker in a session of its own (setsid -f)",
  ignore: !freezerUsable(),
}, async (t) => {
  const dir = await Deno.makeTempDir();
  const cgroup = `chaos-test-${Deno.pid}/escaper`;
  const node = escaper(dir, cgroup);
  const cgDir = freezerDir(freezerLayout()!.base, cgroup);
  try {
    await node.start();
    let worker = await workerOf(node);
    await t.step("the worker is in the node's cgroup, outside its process group", () => {
      assert.ok(node.members()!.includes(worker));
      assert.notEqual(sessionOf(worker), node.pid());
      assert.equal(node.state(), "running");
    });
    await t.step("kill() leaves no member: the setsid'd worker is gone", async () => {
      await node.kill();
      assert.deepEqual(node.members(), []);
      assert.equal(processState(worker), "dead");
      assert.equal(node.state(), "dead");
    });
    await t.step("pause() freezes the worker (its counter stops), resume() thaws it", async () => {
      await node.start();
      worker = await workerOf(node);
      await sleep(300);
      await node.pause();
      assert.equal(node.state(), "paused");
      assert.equal(Deno.readTextFileSync(join(cgDir, "freezer.state")).trim(), "FROZEN");
      const frozenAt = await counter(dir);
      await sleep(500);
      assert.equal(await counter(dir), frozenAt, "a frozen worker does not count");
      await node.resume();
      assert.equal(node.state(), "running");
      await sleep(500);
      assert.ok((await counter(dir)) > frozenAt, "a thawed worker counts again");
    });
    await t.step("state() stays running while only the worker is left", async () => {
      Deno.kill(node.pid()!, "SIGKILL");
      await sleep(200);
      assert.equal(node.pid(), undefined);
      assert.equal(processState(worker), "running");
      assert.equal(node.state(), "running", "not dead while the worker runs");
    });
    await t.step("restart() replaces the worker", async () => {
      await node.restart();
      assert.equal(processState(worker), "dead");
      const next = await workerOf(node);
      assert.notEqual(next, worker);
      worker = next;
    });
    await t.step("stop() on a paused node ends every member and removes the cgroup", async () => {
      await node.pause();
      await node.stop({ graceMs: 2000 });
      assert.equal(processState(worker), "dead");
      assert.equal(node.state(), "dead");
      assert.throws(() => Deno.statSync(cgDir), Deno.errors.NotFound);
      assert.throws(() => Deno.statSync(join(cgDir, "..")), Deno.errors.NotFound);
    });
    await t.step("start() after stop() makes the cgroup again", async () => {
      await node.start();
      assert.ok(Deno.statSync(cgDir).isDirectory);
      assert.ok((await workerOf(node)) > 0);
      await node.stop({ graceMs: 2000 });
    });
  } finally {
    await node.stop({ graceMs: 0 }).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "Freezer.remove: a cgroup with members left is a CgroupSurvivorsError naming them",
  ignore: !freezerUsable(),
}, async () => {
  const freezer = openFreezer(`chaos-test-${Deno.pid}/survivor`)!;
  const child = new Deno.Command("sleep", { args: ["300"] }).spawn();
  try {
    freezer.join(child.pid);
    await assert.rejects(
      () => freezer.remove(),
      (e) => e instanceof CgroupSurvivorsError && e.survivors.includes(child.pid),
    );
    assert.deepEqual(await freezer.killAll(5_000), []);
    await child.status;
    await freezer.remove();
    assert.throws(() => Deno.statSync(freezer.dir), Deno.errors.NotFound);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }
});

Deno.test("leftovers: empty run cgroups older than the age, never a busy one, nor chaos-harness", async () => {
  const base = await Deno.makeTempDir();
  const make = async (path: string, procs = "") => {
    await Deno.mkdir(join(base, path), { recursive: true });
    await Deno.writeTextFile(join(base, path, "cgroup.procs"), procs);
  };
  try {
    await make("chaos-old");
    await make("chaos-old/sink");
    await make("chaos-old/detector");
    await make("chaos-busy");
    await make("chaos-busy/sink", "4242\n");
    await make("chaos-harness"); // the cpu and memory faults' (cgroup v2: the same hierarchy)
    await make("chaos-nested/sink/inner"); // a component's own cgroups: not the harness's
    await make("docker");
    const later = Date.now() + LEFTOVER_AGE_MS + 1000;
    assert.deepEqual(leftovers(base, later), [join(base, "chaos-old")]);
    assert.deepEqual(leftovers(base, Date.now()), [], "a run that just began is left alone");
    assert.deepEqual(leftovers("/nonexistent"), []);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
