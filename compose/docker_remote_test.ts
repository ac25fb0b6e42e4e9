/**
 * The docker stack against an engine given by `DOCKER_HOST=tcp://…`: the
 * engine's socket is relayed on a loopback TCP port, and `bench:stack --stack
 * docker` brings a stack up through it (services published on the engine's
 * host at the port plan's numbers, clients advertised there), checks it
 * healthy and removes it.
 */

import assert from "node:assert/strict";
import { dockerClient, STACK_LABEL } from "./docker.ts";
import { relayEngine, runDeno, slow } from "./testing.ts";

Deno.test(
  { name: "docker stack through DOCKER_HOST=tcp:// (published ports)", ...slow },
  async () => {
    const engine = relayEngine("/var/run/docker.sock");
    try {
      const base = Number(Deno.env.get("CHAOS_REMOTE_BASE_PORT") ?? 32300);
      const res = await runDeno(
        ["compose/bench_stack.ts", "--stack", "docker", "--runs", "1", "--base-port", String(base)],
        { DOCKER_HOST: `tcp://127.0.0.1:${engine.port}` },
      );
      console.log(res.stdout.trim().split("\n").slice(-3).join("\n"));
      assert.equal(res.code, 0, res.stderr.slice(-2000));
      assert.match(res.stdout, /stack_up_s=\d/);
    } finally {
      engine.close();
    }
    const filters = JSON.stringify({ label: [STACK_LABEL] });
    const left: { Labels: Record<string, string> }[] = await dockerClient().listContainers({
      all: true,
      filters,
    });
    assert.deepEqual(left.filter((c) => c.Labels[STACK_LABEL].startsWith("bench-")), []);
  },
);
