/**
 * Ctrl-C at a random moment of a real run, six times (`CHAOS_ABORT_MOMENTS`)
 * with different moments (seeded, one in each sixth of the run's first 45 s, so
 * start-up, the pipeline, the workload and the fault are each hit): the run exits 3 every time, and afterwards no process of the run
 * is alive and none of its ports (brokers, proxies, MinIO, Redis, Toxiproxy,
 * webhook) is still listening.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { dockerClient, removeOrphans, STACK_LABEL } from "../compose/docker.ts";
import { allPorts, portPlan } from "../compose/ports.ts";
import { processesWith, slow } from "../compose/testing.ts";
import { portFree, sleep, waitFor } from "../lib/wait.ts";
import { Rng } from "../pipeline/rng.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const BASE = Number(Deno.env.get("CHAOS_ABORT_BASE_PORT") ?? 31400);
/** How many random moments the local SIGINT test tries (CI: 6; a nightly may ask for more). */
const MOMENTS = Number(Deno.env.get("CHAOS_ABORT_MOMENTS") ?? 6);

/** `deno task scenario exfil-under-broker-loss` on `stack`, quietly, into `out`. */
function runFlagship(
  out: string,
  stack: "local" | "docker",
  output: "piped" | "null" = "piped",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "chaos/cli_scenario.ts",
      "exfil-under-broker-loss",
      "--stack",
      stack,
      "--out",
      out,
    ],
    cwd: root,
    env: { CHAOS_QUIET: "1", KAFKA_LOG_LEVEL: "nothing", CHAOS_RUN_BASE_PORT: String(BASE) },
    stdout: output,
    stderr: output,
  }).spawn();
}

Deno.test(
  { name: `SIGINT at ${MOMENTS} random moments: exit 3, nothing of the run left`, ...slow },
  async (t) => {
    const rng = new Rng("abort");
    const out = await Deno.makeTempDir({ prefix: "abort-" });
    try {
      for (let i = 0; i < MOMENTS; i++) {
        // From stack start-up (0-15 s) through the pipeline and the workload to the fault (30 s+).
        const slice = 43_000 / MOMENTS;
        const moment = 2000 + Math.floor((i + rng.next()) * slice);
        await t.step(`SIGINT after ${(moment / 1000).toFixed(1)} s`, async () => {
          const child = runFlagship(out, "local");
          await sleep(moment);
          child.kill("SIGINT");
          const res = await child.output();
          const said = new TextDecoder().decode(res.stderr).slice(-1500);
          assert.equal(res.code, 3, `exit code after SIGINT: ${said}`);
          // Stack nodes name the run folder; the sink and the detector name its brokers.
          const bootstrap = `127.0.0.1:${portPlan(BASE, 3).brokers[0].client.proxy}`;
          const left = [...processesWith(out), ...processesWith(bootstrap)];
          assert.deepEqual(left, [], `processes of the run still alive: ${left.join(", ")}`);
          const busy = allPorts(portPlan(BASE, 3)).filter((p) => !portFree(p));
          assert.deepEqual(busy, [], `ports of the run still listening: ${busy.join(", ")}`);
        });
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
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
      for (const moment of [rng.int(6000, 12_000), rng.int(25_000, 40_000)]) {
        await t.step(`SIGINT after ${(moment / 1000).toFixed(1)} s`, async () => {
          const child = runFlagship(out, "docker");
          await sleep(moment);
          child.kill("SIGINT");
          const res = await child.output();
          const said = new TextDecoder().decode(res.stderr).slice(-1500);
          assert.equal(res.code, 3, `exit code after SIGINT: ${said}`);
          assert.deepEqual(await leftovers(), [], "containers or networks of the run left");
          const left = processesWith(out);
          assert.deepEqual(left, [], `processes of the run still alive: ${left.join(", ")}`);
        });
      }
      await t.step(
        "SIGKILL: the watchdog ends the run's processes; the next up removes the rest",
        async () => {
          const child = runFlagship(out, "docker", "null");
          await sleep(rng.int(28_000, 40_000)); // the pipeline runs by then
          child.kill("SIGKILL");
          await child.status;
          assert.ok((await leftovers()).length > 0, "a SIGKILLed harness cannot clean up itself");
          await waitFor(() => processesWith(out).length === 0, {
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
