/**
 * A component cannot dodge a fault: a "sink" whose real worker forks into a
 * session of its own (`setsid -f`, or Node's `spawn(..., {detached: true})`
 * from a wrapper that then exits) is killed, paused, stopped and restarted for
 * real through the faults' own code (`FAULTS[kind].inject`, as the timeline
 * calls it), on real freezer cgroups; no Kafka needed. And, in-process with a
 * stand-in freezer: a fault that leaves a process of the cgroup behind is
 * never observed, and a component found dead is told apart by its type
 * (NotRunningError), not by its message. And, in a real sandbox under the real
 * libfaketime: a boxed sink that re-execs itself without the clock fault's
 * preload dodges the `clock` fault, which is the submission's failure
 * (DodgedFaultError), while an honest boxed sink has its clock moved.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type CgroupFreezer, CgroupSurvivorsError, freezerUsable } from "../compose/freezer.ts";
import { faketimeEnv, REAL_CLOCK, writeFaketime } from "../compose/faketime.ts";
import { ensureFaketime } from "../compose/host_tools.ts";
import { openSandbox, sandboxSupport } from "../compose/sandbox.ts";
import { DodgedFaultError } from "./faults/dodged.ts";
import {
  NotRunningError,
  ProcessNode,
  processStartTime,
  processState,
} from "../compose/process_node.ts";
import type { Stack } from "../compose/stack.ts";
import { sleep, waitFor } from "../lib/wait.ts";
import { History } from "../validate/history.ts";
import { FAULTS } from "./faults/mod.ts";
import type { FaultContext } from "./faults/types.ts";
import { exitedByItself } from "./outcome.ts";
import type { PlannedFault, Step } from "./planner.ts";
import { FaultTimeline } from "./timeline.ts";

/** The faults' context with `sink` as the only node (the stack is never asked). */
function contextOf(sink: ProcessNode): FaultContext {
  const stack = {
    kind: "local",
    node: (name: string) => {
      throw new Error(`no stack node ${name} in this test`);
    },
  } as unknown as Stack;
  return {
    stack,
    binaries: {} as FaultContext["binaries"],
    components: new Map([["sink", sink]]),
    receiver: {} as FaultContext["receiver"],
  };
}

/** The worker: counts into `counter` every 100 ms, its pid in `worker.pid`. */
const worker = (dir: string) =>
  `echo $$ >${join(dir, "worker.pid")}; i=0; while :; do i=$((i+1)); ` +
  `echo $i >${join(dir, "counter")}; sleep 0.1; done`;

/** Two ways a sink's worker leaves the sink's session and process group. */
const DODGERS: Record<string, (dir: string) => { cmd: string; args: string[] }> = {
  // The wrapper stays (a shell that runs a daemon, then waits).
  "setsid -f": (dir) => ({
    cmd: "bash",
    args: ["-c", `setsid -f bash -c '${worker(dir)}'; exec sleep 1000`],
  }),
  // The wrapper exits once its detached child runs: the node's own pid is gone.
  "spawn detached": (dir) => ({
    cmd: Deno.execPath(),
    args: [
      "eval",
      `import { spawn } from "node:child_process";
       const c = spawn("bash", ["-c", ${
        JSON.stringify(worker(dir))
      }], { detached: true, stdio: "ignore" });
       c.unref();`,
    ],
  }),
};

const readNumber = (path: string) => {
  try {
    return Number(Deno.readTextFileSync(path).trim()) || 0;
  } catch {
    return 0;
  }
};

/** The worker's pid once it has written it anew (after `previous`). */
async function workerPid(dir: string, previous?: number): Promise<number> {
  return await waitFor(() => {
    const pid = readNumber(join(dir, "worker.pid"));
    return pid > 0 && pid !== previous && processState(pid) !== "dead" ? pid : false;
  }, { what: "the worker to start", timeoutMs: 10_000, intervalMs: 50 });
}

for (const [how, command] of Object.entries(DODGERS)) {
  Deno.test({
    name: `faults reach a sink's worker that dodges through ${how}`,
    ignore: !freezerUsable(),
  }, async (t) => {
    const dir = await Deno.makeTempDir();
    const cgroup = `chaos-test-${Deno.pid}-${how.replace(/\W/g, "")}/sink`;
    const sink = new ProcessNode({
      name: "sink",
      ...command(dir),
      logFile: join(dir, "sink.log"),
      pidFile: join(dir, "sink.pid"),
      cgroup,
    });
    const ctx = contextOf(sink);
    const counter = () => readNumber(join(dir, "counter"));
    try {
      await sink.start();
      let pid = await workerPid(dir);
      const gone = (p: number, start: string | undefined) => processState(p, start) === "dead";

      await t.step("the worker is in the cgroup, in a session of its own", () => {
        assert.ok(sink.members()!.includes(pid), `${pid} in ${sink.members()}`);
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        const session = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
        assert.equal(session, pid, "it leads its own session");
        assert.equal(sink.state(), "running");
      });

      await t.step("kill: the worker is gone, and the cgroup empty", async () => {
        const start = processStartTime(pid);
        const injected = await FAULTS.kill.inject(ctx, ["sink"], {});
        const members = injected.observed.cgroup_members as Record<string, number[]>;
        assert.ok(members.sink.includes(pid), "the worker was seen and hit");
        assert.ok(gone(pid, start), `worker ${pid} still alive after kill`);
        assert.deepEqual(sink.members(), []);
        assert.equal(sink.state(), "dead");
        const at = counter();
        await sleep(400);
        assert.equal(counter(), at, "a killed worker does not count");
        // A kill of what is already dead proves nothing: a typed NotRunningError.
        await assert.rejects(FAULTS.kill.inject(ctx, ["sink"], {}), NotRunningError);
        await injected.heal();
        pid = await workerPid(dir, pid);
      });

      await t.step(
        "pause: the counter stops while frozen, moves again after the heal",
        async () => {
          await waitFor(() => counter() > 0, { what: "the worker to count", timeoutMs: 5000 });
          const injected = await FAULTS.pause.inject(ctx, ["sink"], {});
          assert.equal(sink.state(), "paused");
          await sleep(150); // a write under way when frozen lands
          const frozenAt = counter();
          await sleep(700);
          assert.equal(counter(), frozenAt, "a frozen worker does not count");
          await injected.heal();
          assert.equal(sink.state(), "running");
          await waitFor(() => counter() > frozenAt, {
            what: "the thawed worker to count again",
            timeoutMs: 5000,
          });
          assert.equal(processState(pid), "running", "the same worker, thawed");
        },
      );

      await t.step("restart: a new worker, the old one gone", async () => {
        const start = processStartTime(pid);
        const injected = await FAULTS.restart.inject(ctx, ["sink"], {});
        assert.ok(
          (injected.observed.cgroup_members as Record<string, number[]>).sink.includes(pid),
        );
        assert.ok(gone(pid, start), `old worker ${pid} still alive after restart`);
        const next = await workerPid(dir, pid);
        assert.notEqual(next, pid);
        pid = next;
      });

      await t.step("stop: every member ends; the heal starts the sink again", async () => {
        const start = processStartTime(pid);
        const injected = await FAULTS.stop.inject(ctx, ["sink"], {});
        assert.ok(gone(pid, start), `worker ${pid} still alive after stop`);
        assert.equal(sink.state(), "dead");
        await injected.heal();
        pid = await workerPid(dir, pid);
      });

      await t.step("teardown: stop() leaves no process and no cgroup", async () => {
        const start = processStartTime(pid);
        const cg = sink.cgroup()!.dir;
        assert.ok(
          Deno.readTextFileSync(join(dir, "sink.pid")).trim().endsWith(` ${cg}`),
          "the pid file names the cgroup (for the watchdog)",
        );
        await sink.stop({ graceMs: 1000 });
        assert.ok(gone(pid, start));
        assert.throws(() => Deno.statSync(cg), Deno.errors.NotFound);
        assert.throws(() => Deno.statSync(join(cg, "..")), Deno.errors.NotFound);
      });
    } finally {
      await sink.stop({ graceMs: 0 }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/**
 * A stand-in freezer: `members` are what it holds; `killAll` kills nothing and leaves
 * `survivors` (a member SIGKILL by cgroup could not end), or empties it (`escaped`: the pids
 * left it alive instead, as a process moving itself out would).
 */
function standIn(
  dir: string,
  members: number[],
  o: { survivors?: number[]; frozen?: boolean } = {},
) {
  let held = [...members];
  const freezer: CgroupFreezer = {
    dir, // a plain folder: the start script's join writes a plain file
    version: 1,
    base: join(dir, ".."),
    ensure: () => {},
    join: () => {},
    members: () => held,
    frozen: () => o.frozen ?? false,
    freeze: () => Promise.resolve(o.frozen ?? false),
    thaw: () => Promise.resolve(true),
    signalAll: () => Promise.resolve(),
    killAll: () => {
      held = o.survivors ? [...o.survivors] : [];
      return Promise.resolve(held);
    },
    remove: () => Promise.resolve(),
  };
  return freezer;
}

/** Nodes on stand-in freezers; each started once (a `sleep`, outside any cgroup), then ended. */
class StandIns {
  readonly #started: ProcessNode[] = [];
  constructor(readonly dir: string) {}

  /** A node on a stand-in freezer; its one `start()` makes the freezer its own. */
  async node(
    members: number[],
    o: { survivors?: number[]; frozen?: boolean } = {},
  ): Promise<{ node: ProcessNode; freezer: CgroupFreezer }> {
    const at = await Deno.makeTempDir({ dir: this.dir });
    const freezer = standIn(at, members, o);
    const node = new ProcessNode({
      name: "sink",
      cmd: "sleep",
      args: ["60"],
      logFile: join(at, "sink.log"),
      pidFile: join(at, "sink.pid"),
      cgroup: "chaos-standin/sink",
    }, { openFreezer: () => freezer });
    const held = freezer.members;
    freezer.members = () => []; // not running yet: start() starts it
    await node.start();
    freezer.members = held;
    this.#started.push(node);
    return { node, freezer };
  }

  /** Ends the `sleep` each node started (by its pid file: never through the stand-in). */
  end(): void {
    for (const node of this.#started) {
      const [pid] = Deno.readTextFileSync(node.spec.pidFile).split(" ");
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
  }
}

Deno.test("a fault that leaves a process of the cgroup behind is never observed", async (t) => {
  const dir = await Deno.makeTempDir();
  const standIns = new StandIns(dir);
  // This test process stands for the survivor: alive, and never signalled by a stand-in.
  const survivor = Deno.pid;
  try {
    await t.step("restart: the cgroup could not be emptied, nothing is started", async () => {
      const { node } = await standIns.node([survivor, 4_000_000], { survivors: [survivor] });
      await assert.rejects(
        FAULTS.restart.inject(contextOf(node), ["sink"], {}),
        (e) => e instanceof CgroupSurvivorsError && e.survivors.includes(survivor),
      );
    });
    await t.step("kill: the survivor is named", async () => {
      const { node } = await standIns.node([survivor], { survivors: [survivor] });
      await assert.rejects(
        FAULTS.kill.inject(contextOf(node), ["sink"], {}),
        new RegExp(`still holds pid\\(s\\) ${survivor}`),
      );
    });
    await t.step("restart: a member that left the cgroup alive is no new process", async () => {
      const { node } = await standIns.node([survivor]);
      await assert.rejects(
        FAULTS.restart.inject(contextOf(node), ["sink"], {}),
        new RegExp(`missed pid\\(s\\) ${survivor}: still running`),
      );
    });
    await t.step("kill: likewise", async () => {
      const { node } = await standIns.node([survivor]);
      await assert.rejects(
        FAULTS.kill.inject(contextOf(node), ["sink"], {}),
        new RegExp(`missed pid\\(s\\) ${survivor}`),
      );
    });
    await t.step("pause: a freezer that does not say FROZEN is no pause", async () => {
      const { node } = await standIns.node([survivor], { frozen: false });
      await assert.rejects(FAULTS.pause.inject(contextOf(node), ["sink"], {}), /did not freeze/);
    });
    await t.step("pause: a member running outside the frozen cgroup is missed", async () => {
      const { node, freezer } = await standIns.node([survivor], { frozen: true });
      freezer.freeze = () => {
        freezer.members = () => [4_000_000]; // the survivor moved out as the freezer froze
        return Promise.resolve(true);
      };
      await assert.rejects(
        FAULTS.pause.inject(contextOf(node), ["sink"], {}),
        new RegExp(`missed pid\\(s\\) ${survivor}: running outside its frozen cgroup`),
      );
    });
  } finally {
    standIns.end();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a component found dead when its fault is due: typed, recorded, the submission's failure", async () => {
  const dir = await Deno.makeTempDir();
  const standIns = new StandIns(dir);
  try {
    const { node } = await standIns.node([]);
    const history = new History(join(dir, "history.jsonl"));
    const timeline = new FaultTimeline({
      history,
      ctx: contextOf(node),
      faults: [{ at: "0s", kind: "kill", target: "sink", source: "timeline" } as PlannedFault],
      resolve: (target) => Promise.resolve({ nodes: [target], observed: {} }),
    });
    const step: Step = {
      at_ms: 0,
      action: "inject",
      fault: 0,
      kind: "kill",
      target: "sink",
      params: {},
    };
    await timeline.run([step], performance.now());
    const [record] = timeline.records();
    assert.equal(record.observed, false);
    assert.equal(record.detail.not_running, true);
    assert.match(
      exitedByItself({ ownPipeline: true, parts: { timeline } })!,
      /the submission's sink was not running when the fault kill sink was due/,
    );
    assert.equal(exitedByItself({ ownPipeline: false, parts: { timeline } }), undefined);
    // A failure that merely says so in words is the harness's, not the submission's.
    const worded = {
      records: () => [{ ...record, detail: { error: "cannot kill sink: it is not running" } }],
      healAll: () => Promise.resolve(),
    };
    assert.equal(exitedByItself({ ownPipeline: true, parts: { timeline: worded } }), undefined);
  } finally {
    standIns.end();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "a boxed sink that drops the clock preload dodges the clock fault: the submission's failure",
  ignore: !freezerUsable() || sandboxSupport() !== null,
}, async (t) => {
  const dir = await Deno.makeTempDir();
  const box = await openSandbox({ source: dir });
  const lib = await ensureFaketime();
  /** The sink as components.ts starts a graded one under a clock fault: boxed, preloaded. */
  const boxedSink = async (command: string, tag: string) => {
    await writeFaketime(box.clockFile(), REAL_CLOCK);
    const argv = box.wrap(["bash", "-c", command]);
    const sink = new ProcessNode({
      name: "sink",
      cmd: argv[0],
      args: argv.slice(1),
      cwd: box.cwd,
      env: { ...box.env(), ...faketimeEnv(lib, box.clockFile()) },
      clearEnv: true,
      logFile: join(dir, `${tag}.log`),
      pidFile: join(dir, `${tag}.pid`),
      cgroup: `chaos-test-${Deno.pid}-clock${tag}/sink`,
    });
    await sink.start();
    // Until the command runs as the box's uid (`sleep` under the box's init).
    await waitFor(() =>
      (sink.members() ?? []).some((pid) => {
        try {
          return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === "sleep";
        } catch {
          return false;
        }
      }), { what: `the ${tag} sink's sleep to run`, timeoutMs: 20_000 });
    return sink;
  };
  const started: ProcessNode[] = [];
  try {
    await t.step("an honest boxed sink: its clock moves, the fault is observed", async () => {
      const sink = await boxedSink("exec sleep 1000", "honest");
      started.push(sink);
      const injected = await FAULTS.clock.inject(contextOf(sink), ["sink"], {
        offset_s: 90,
        rate: 1,
      });
      const seen = injected.observed.seen as Record<string, { probe_s: number }>;
      assert.ok(Math.abs(seen.sink.probe_s - 90) <= 1, JSON.stringify(injected.observed));
      await injected.heal();
      await sink.stop({ graceMs: 0 });
    });

    await t.step("a sink that re-execs itself without LD_PRELOAD: dodged, typed", async () => {
      const sink = await boxedSink("exec env -u LD_PRELOAD sleep 1000", "dodger");
      started.push(sink);
      const error = await FAULTS.clock.inject(contextOf(sink), ["sink"], { offset_s: 90, rate: 1 })
        .then(
          () => undefined,
          (e) => e,
        );
      assert.ok(error instanceof DodgedFaultError, String(error));
      assert.match(error.message, /removed libfaketime's LD_PRELOAD from its environment/);
      const drops = error.evidence.preload_dropped as { uid: number; comm: string; how: string }[];
      assert.deepEqual(drops.map((d) => [d.uid, d.comm, d.how]), [[box.uid, "sleep", "environ"]]);

      // Through the timeline: never observed, marked dodged, and the graded run's failure.
      const history = new History(join(dir, "history.jsonl"));
      const timeline = new FaultTimeline({
        history,
        ctx: contextOf(sink),
        faults: [{ at: "0s", kind: "clock", target: "sink", source: "timeline" } as PlannedFault],
        resolve: (target) => Promise.resolve({ nodes: [target], observed: {} }),
      });
      const step: Step = {
        at_ms: 0,
        action: "inject",
        fault: 0,
        kind: "clock",
        target: "sink",
        params: { offset_s: 90, rate: 1 },
      };
      await timeline.run([step], performance.now());
      const [record] = timeline.records();
      assert.equal(record.observed, false);
      assert.equal(record.detail.dodged, true);
      assert.match(
        exitedByItself({ ownPipeline: true, parts: { timeline } })!,
        /^the submission's sink dodged the fault clock sink: pid \d+ \(uid \d+, "sleep"\) removed/,
      );
      // The harness's own pipeline dodges nothing: its failure stays the harness's (unknown).
      assert.equal(exitedByItself({ ownPipeline: false, parts: { timeline } }), undefined);
      await sink.stop({ graceMs: 0 });
    });

    await t.step(
      "a sink the harness did not preload: the harness's failure, not a dodge",
      async () => {
        const argv = box.wrap(["bash", "-c", "exec sleep 1000"]);
        const sink = new ProcessNode({
          name: "sink",
          cmd: argv[0],
          args: argv.slice(1),
          cwd: box.cwd,
          env: { ...box.env(), FAKETIME_TIMESTAMP_FILE: box.clockFile() },
          clearEnv: true,
          logFile: join(dir, "bare.log"),
          pidFile: join(dir, "bare.pid"),
          cgroup: `chaos-test-${Deno.pid}-clockbare/sink`,
        });
        started.push(sink);
        await sink.start();
        await assert.rejects(
          FAULTS.clock.inject(contextOf(sink), ["sink"], { offset_s: 90, rate: 1 }),
          (e) =>
            !(e instanceof DodgedFaultError) && /does not run under libfaketime/.test(String(e)),
        );
        await sink.stop({ graceMs: 0 });
      },
    );
  } finally {
    for (const sink of started) await sink.stop({ graceMs: 0 }).catch(() => {});
    await box.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a SIGKILLed harness: its watchdog empties and removes the components' cgroups",
  ignore: !freezerUsable(),
}, async () => {
  const dir = await Deno.makeTempDir();
  const cgroup = `chaos-test-${Deno.pid}-watchdog/sink`;
  // A harness of its own: starts the dodging sink and the stack's watchdog, then waits.
  const harness = `
    import { ProcessNode } from "${new URL("../compose/process_node.ts", import.meta.url)}";
    import { startWatchdog } from "${new URL("../compose/local_services.ts", import.meta.url)}";
    await Deno.mkdir("${join(dir, "pids")}", { recursive: true });
    const sink = new ProcessNode({ name: "sink", cmd: "bash",
      args: ["-c", ${JSON.stringify(`setsid -f bash -c '${worker(dir)}'; exec sleep 1000`)}],
      logFile: "${join(dir, "sink.log")}", pidFile: "${join(dir, "pids", "sink.pid")}",
      cgroup: "${cgroup}" });
    await sink.start();
    startWatchdog("${dir}");
    console.log(sink.cgroup().dir);
    await new Promise(() => {});`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", harness],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  try {
    const cg = new TextDecoder().decode((await reader.read()).value).trim();
    const pid = await workerPid(dir);
    const start = processStartTime(pid);
    child.kill("SIGKILL");
    await child.status;
    await waitFor(() => processState(pid, start) === "dead", {
      what: `the watchdog to end the worker ${pid}`,
      timeoutMs: 10_000,
    });
    const removed = () => {
      try {
        Deno.statSync(cg);
        return false;
      } catch {
        return true;
      }
    };
    await waitFor(removed, { what: `the watchdog to remove ${cg}`, timeoutMs: 10_000 });
    assert.throws(() => Deno.statSync(cg), Deno.errors.NotFound);
    assert.throws(() => Deno.statSync(join(cg, "..")), Deno.errors.NotFound);
  } finally {
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await Deno.remove(dir, { recursive: true });
  }
});
