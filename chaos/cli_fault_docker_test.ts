/**
 * Game days on the docker stack, as a user runs them: `deno task up --stack
 * docker` leaves a stack that `deno task fault` finds by name (a pause round
 * trip through `fault heal --all`; a disk filled on a bounded disk), and
 * `deno task down` heals what is still active, then removes the containers,
 * the network, the mounts and the state.
 */

import assert from "node:assert/strict";
import { dockerClient, STACK_LABEL } from "../compose/docker.ts";
import { mountsUnder } from "../compose/disk.ts";
import { DockerStack } from "../compose/docker_stack.ts";
import { dockerStateFile } from "../compose/docker_state.ts";
import { exists } from "../compose/paths.ts";
import { activeFaults } from "../compose/gameday.ts";
import { objectStore } from "../pipeline/store.ts";
import { runDeno, slow, spawnFaultInject } from "../compose/testing.ts";
import { waitFor } from "../lib/wait.ts";

Deno.test({ name: "game days on the docker stack: up, fault, down", ...slow }, async (t) => {
  const name = `gd-${Deno.pid}`;
  const base = String(31_500 + (Deno.pid % 40) * 10);
  const task = (...args: string[]) => runDeno([...args, "--name", name]);
  const spawnInject = (...args: string[]) => spawnFaultInject(name, args);
  const activeOn = (node: string) =>
    waitFor(async () => (await activeFaults(name)).some((f) => f.nodes.includes(node)), {
      what: `an active fault on ${node}`,
      timeoutMs: 60_000,
      intervalMs: 200,
    });
  const up = await task(
    "compose/cli_up.ts",
    ...["--stack", "docker", "--disk-mb", "256", "--base-port", base],
  );
  const stack = await DockerStack.attach(name);
  try {
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /^kafka +\S+:\d+/m);
    assert.ok(stack, "the state file names the stack");
    await t.step("the running stack is found again; a second up reuses it", async () => {
      assert.equal(stack!.nodes.size, 6);
      assert.ok([...stack!.nodes.values()].every((n) => n.state() === "running"));
      const again = await task("compose/cli_up.ts", "--stack", "docker", "--json");
      assert.equal(again.code, 0, again.stderr);
      const { nodes, ...endpoints } = JSON.parse(again.stdout);
      assert.deepEqual(endpoints, stack!.endpoints, "the same stack");
      // With how each node can be acted on: an endpoints file for --stack external.
      assert.equal(nodes["kafka-2"].container, stack!.containerName("kafka-2"));
      assert.equal(nodes["kafka-2"].proxies.quorum["1"], "kafka-2-to-1-controller");
      const local = await task("compose/cli_up.ts");
      assert.equal(local.code, 2, "a local stack of the same name is refused");
      assert.match(local.stderr, /a docker stack named/);
    });

    await t.step("inject pause; heal --all from another process", async () => {
      const owner = spawnInject("pause", "broker:2");
      await activeOn("kafka-2");
      assert.equal((await stack!.broker(2).container.inspect()).State.Paused, true);
      const heal = await task("chaos/cli_fault.ts", "heal", "--all");
      assert.equal(heal.code, 0, heal.stderr);
      const out = await owner.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal((await stack!.broker(2).container.inspect()).State.Paused, false);
    });

    await t.step("disk_full on MinIO: writes refused until the heal", async () => {
      const store = objectStore(stack!.endpoints.s3);
      const owner = spawnInject("disk_full", "minio");
      await activeOn("minio");
      await assert.rejects(store.putText("probe/full.txt", "x".repeat(1 << 20), "text/plain"));
      const heal = await task("chaos/cli_fault.ts", "heal", "--all");
      assert.equal(heal.code, 0, heal.stderr);
      const out = new TextDecoder().decode((await owner.output()).stdout);
      assert.match(out, /"ballast_removed":\["minio"\]/);
      // MinIO reads its free space from a cache: it may refuse a moment longer (XMinioStorageFull).
      await waitFor(
        () => store.putText("probe/after.txt", "written", "text/plain").then(() => true),
        {
          what: "MinIO to accept writes again after the heal",
          timeoutMs: 30_000,
          intervalMs: 500,
        },
      );
    });

    await t.step("disk_full on a bounded disk; down heals it, then removes all", async () => {
      const owner = spawnInject("disk_full", "broker:3", "--param", "free_mb=8");
      await activeOn("kafka-3");
      const list = await task("chaos/cli_fault.ts", "list");
      assert.match(list.stdout, /disk_full broker:3 on kafka-3/);
      const down = await task("compose/cli_down.ts");
      assert.equal(down.code, 0, down.stderr);
      const out = new TextDecoder().decode((await owner.output()).stdout);
      assert.match(out, /"free_mb":\{"kafka-3":[0-9.]+\}/);
      assert.match(out, /healed: \{"ballast_removed":\["kafka-3"\]/);
    });
  } finally {
    await runDeno(["compose/cli_down.ts", "--name", name]).catch(() => {});
  }
  const filters = JSON.stringify({ label: [`${STACK_LABEL}=${name}`] });
  assert.deepEqual(await dockerClient().listContainers({ all: true, filters }), []);
  if (stack) assert.deepEqual(mountsUnder(stack.dataDir), [], "no bounded disk left mounted");
  assert.equal(await exists(dockerStateFile(name)), false, "no state left");
});
