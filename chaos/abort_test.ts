/**
 * Ctrl-C in each phase of a real run (`deno task scenario exfil-under-broker-loss`): before the
 * stack starts, during its start-up, while the pipeline starts, during the workload before the
 * fault, and while the fault (a broker killed) is on. Each moment is a phase the run's own
 * history reached plus a seeded random delay inside that phase, so every phase is hit once, with
 * no repeat (`CHAOS_ABORT_MOMENTS` > 5 goes round the phases again, with other delays): the run
 * exits 3 every time, and afterwards no process of the run is alive and none of its ports
 * (brokers, proxies, MinIO, Redis, Toxiproxy, webhook) is still listening.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerClient, removeOrphans, STACK_LABEL } from "../compose/docker.ts";
import { allPorts, portPlan } from "../compose/ports.ts";
import { processesWith, slow } from "../compose/testing.ts";
import { portFree, sleep, waitFor } from "../lib/wait.ts";
import { Rng } from "../pipeline/rng.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const BASE = Number(Deno.env.get("CHAOS_ABORT_BASE_PORT") ?? 31400);
const SCENARIO = "exfil-under-broker-loss";

/**
 * A phase of the run to interrupt: entered when its history has the line `after` (`[type, what]`;
 * undefined: the moment the run is spawned), interrupted a seeded `delayMs` later, while the line
 * `until` that ends the phase is not there yet.
 */
interface Moment {
  phase: string;
  after?: [string, string];
  until?: [string, string];
  delayMs: [number, number];
}

/** The phases of the flagship's run, in order; each delay stays well inside its phase. */
export const PHASES: readonly Moment[] = [
  { phase: "start (before or as the stack starts)", delayMs: [1500, 3000] },
  {
    phase: "stack start-up",
    after: ["invoke", "stack-up"],
    until: ["ok", "stack-up"],
    delayMs: [1500, 4000],
  },
  {
    phase: "pipeline start",
    after: ["invoke", "pipeline-up"],
    until: ["invoke", "workload"],
    delayMs: [0, 1000],
  },
  {
    phase: "workload before the fault",
    after: ["invoke", "workload"],
    until: ["invoke", "fault:kill"],
    delayMs: [2000, 10_000],
  },
  {
    phase: "mid-fault (a broker killed)",
    after: ["ok", "fault:kill"],
    until: ["invoke", "heal:kill"],
    delayMs: [1000, 6000],
  },
];
/** How many moments the local SIGINT test tries (CI: one per phase; a nightly may ask for more). */
const MOMENTS = Number(Deno.env.get("CHAOS_ABORT_MOMENTS") ?? PHASES.length);

/** `deno task scenario exfil-under-broker-loss` on `stack`, quietly, into `out`. */
function runFlagship(
  out: string,
  stack: "local" | "docker",
  output: "piped" | "null" = "piped",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "chaos/cli_scenario.ts", SCENARIO, "--stack", stack, "--out", out],
    cwd: root,
    env: { CHAOS_QUIET: "1", KAFKA_LOG_LEVEL: "nothing", CHAOS_RUN_BASE_PORT: String(BASE) },
    stdout: output,
    stderr: output,
  }).spawn();
}

/** The history of the one run under `out` so far ("" before it has one). */
async function historyOf(out: string): Promise<string> {
  try {
    for await (const e of Deno.readDir(join(out, SCENARIO))) {
      if (!e.isDirectory) continue;
      return await Deno.readTextFile(join(out, SCENARIO, e.name, "history.jsonl")).catch(() => "");
    }
  } catch { /* no run folder yet */ }
  return "";
}

/** Whether `history` (history.jsonl's text) has a line of `type` and `what`. */
export function reached(history: string, type: string, what: string): boolean {
  return history.split("\n").some((line) => {
    try {
      const e = JSON.parse(line);
      return e.type === type && e.what === what;
    } catch {
      return false; // a line being written
    }
  });
}

/**
 * Waits until the run writing into `out` entered `m`'s phase (its child still running), then
 * `delay` ms more; false when the run ended first.
 */
async function waitForPhase(
  out: string,
  m: Moment,
  delay: number,
  child: Deno.ChildProcess,
): Promise<boolean> {
  let ended = false;
  child.status.then(() => (ended = true));
  if (m.after) {
    const [type, what] = m.after;
    await waitFor(async () => ended || reached(await historyOf(out), type, what), {
      what: `the run to reach ${m.phase} (${type} ${what})`,
      timeoutMs: 120_000,
      intervalMs: 100,
    });
  }
  await sleep(delay);
  return !ended;
}

Deno.test("reached: a line of the type and what; a line being written is not read yet", () => {
  const h = '{"time":1,"type":"info","what":"phase","value":"stack"}\n' +
    '{"time":2,"type":"invoke","what":"stack-up","op":1}\n{"time":3,"type":"ok","wha';
  assert.ok(reached(h, "invoke", "stack-up"));
  assert.ok(!reached(h, "ok", "stack-up"));
  assert.ok(!reached(h, "invoke", "workload"));
  assert.ok(!reached("", "invoke", "stack-up"));
  // Every phase is entered by a line its predecessor's phase writes, in order.
  assert.deepEqual(PHASES.slice(1).map((m) => m.after![1]), [
    "stack-up",
    "pipeline-up",
    "workload",
    "fault:kill",
  ]);
});

Deno.test(
  { name: `SIGINT in each phase of a run (${MOMENTS}): exit 3, nothing of the run left`, ...slow },
  async (t) => {
    const rng = new Rng("abort");
    const base = await Deno.makeTempDir({ prefix: "abort-" });
    try {
      for (let i = 0; i < MOMENTS; i++) {
        const m = PHASES[i % PHASES.length];
        const delay = rng.int(m.delayMs[0], m.delayMs[1]);
        await t.step(`SIGINT ${(delay / 1000).toFixed(1)} s into ${m.phase}`, async () => {
          const out = join(base, String(i));
          const child = runFlagship(out, "local");
          const running = await waitForPhase(out, m, delay, child);
          const history = await historyOf(out); // as the SIGINT finds it (teardown adds heals)
          child.kill("SIGINT");
          const res = await child.output();
          const said = new TextDecoder().decode(res.stderr).slice(-1500);
          assert.ok(running, `the run ended before its SIGINT in ${m.phase}: ${said}`);
          assert.equal(res.code, 3, `exit code after SIGINT: ${said}`);
          // Interrupted inside its phase: entered, not left.
          if (m.after) assert.ok(reached(history, ...m.after), `${m.phase} not reached: ${said}`);
          if (m.until) assert.ok(!reached(history, ...m.until), `${m.phase} was over: ${said}`);
          // Stack nodes name the run folder; the sink and the detector name its brokers.
          const bootstrap = `127.0.0.1:${portPlan(BASE, 3).brokers[0].client.proxy}`;
          const left = [...processesWith(out), ...processesWith(bootstrap)];
          assert.deepEqual(left, [], `processes of the run still alive: ${left.join(", ")}`);
          const busy = allPorts(portPlan(BASE, 3)).filter((p) => !portFree(p));
          assert.deepEqual(busy, [], `ports of the run still listening: ${busy.join(", ")}`);
        });
      }
    } finally {
      await Deno.remove(base, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  {
    name: "docker stack: SIGINT exits 3 leaving nothing; after a SIGKILL the next up cleans",
    ...slow,
  },
  async (t) => {
    const rng = new Rng("abort-docker");
    const out = await Deno.makeTempDir({ prefix: "abort-docker-" });
    const docker = dockerClient();
    const leftovers = async () => {
      const filters = JSON.stringify({ label: [STACK_LABEL] });
      const mine = (labels: Record<string, string> | undefined) =>
        (labels?.[STACK_LABEL] ?? "").startsWith("exfil-under-broker-loss-");
      const containers: { Names: string[]; Labels?: Record<string, string> }[] = await docker
        .listContainers({ all: true, filters });
      const networks: { Name: string; Labels?: Record<string, string> }[] = await docker
        .listNetworks({ filters });
      return [
        ...containers.filter((c) => mine(c.Labels)).map((c) => c.Names[0]),
        ...networks.filter((n) => mine(n.Labels)).map((n) => `network ${n.Name}`),
      ];
    };
    try {
      // During the stack's start-up (containers being created), and during the workload.
      for (const [i, m] of [PHASES[1], PHASES[3]].entries()) {
        const delay = rng.int(m.delayMs[0], m.delayMs[1]);
        await t.step(`SIGINT ${(delay / 1000).toFixed(1)} s into ${m.phase}`, async () => {
          const dir = join(out, String(i));
          const child = runFlagship(dir, "docker");
          const running = await waitForPhase(dir, m, delay, child);
          const history = await historyOf(dir);
          child.kill("SIGINT");
          const res = await child.output();
          const said = new TextDecoder().decode(res.stderr).slice(-1500);
          assert.ok(running, `the run ended before its SIGINT in ${m.phase}: ${said}`);
          assert.equal(res.code, 3, `exit code after SIGINT: ${said}`);
          assert.ok(reached(history, ...m.after!), `${m.phase} not reached: ${said}`);
          assert.ok(!reached(history, ...m.until!), `${m.phase} was over: ${said}`);
          assert.deepEqual(await leftovers(), [], "containers or networks of the run left");
          const left = processesWith(dir);
          assert.deepEqual(left, [], `processes of the run still alive: ${left.join(", ")}`);
        });
      }
      await t.step(
        "SIGKILL: the watchdog ends the run's processes; the next up removes the rest",
        async () => {
          const dir = join(out, "killed");
          const child = runFlagship(dir, "docker", "null");
          // Once the pipeline runs.
          const pipeline: Moment = {
            phase: "pipeline",
            after: ["ok", "pipeline-up"],
            delayMs: [0, 0],
          };
          assert.ok(await waitForPhase(dir, pipeline, rng.int(500, 3000), child), "ended first");
          child.kill("SIGKILL");
          await child.status;
          assert.ok((await leftovers()).length > 0, "a SIGKILLed harness cannot clean up itself");
          await waitFor(() => processesWith(dir).length === 0, {
            what: "the watchdog to end the sink and the detector",
            timeoutMs: 15_000,
          });
          const removed = await removeOrphans(); // what the next DockerStack.up does first
          assert.equal(removed.length, 1, `orphans removed: ${removed}`);
          assert.deepEqual(await leftovers(), []);
        },
      );
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);
