/**
 * `--stack external` against a cluster the run did not start: a docker stack
 * left by `deno task up --stack docker --json`, whose output is the endpoints
 * file. Broker 2's container is reached through a second address of the
 * engine (a TCP relay to its socket, `docker_host`), so the nodes of one file
 * sit on two engine addresses. Faults the file does not allow are refused
 * before anything starts; the flagship passes with its kill sent through the
 * second address; the cluster is left as it was (the same containers, all
 * running, the run's topic and groups gone); `tbf` and `loss` go through a
 * helper container on broker 2's own engine address, into its container's
 * network namespace, and are removed on heal; `validate --run --endpoints`
 * re-checks the store where the run left it, and fails once an object is gone.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as Minio from "minio";
import { dockerClient, STACK_LABEL } from "../compose/docker.ts";
import { parseExternalEndpoints } from "../compose/external_endpoints.ts";
import { ExternalStack } from "../compose/external_stack.ts";
import { provision } from "../compose/provision.ts";
import type { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { FAULTS } from "./faults/mod.ts";
import { relayEngine, runDeno, slow } from "../compose/testing.ts";
import { minioClientOptions } from "../pipeline/endpoints.ts";
import { kafkaClient } from "../pipeline/kafka.ts";
import type { Results } from "../validate/results.ts";

type Container = { Id: string; Names: string[]; State: string; Labels: Record<string, string> };

async function containersOf(name: string): Promise<Map<string, { id: string; state: string }>> {
  const filters = JSON.stringify({ label: [`${STACK_LABEL}=${name}`] });
  const list: Container[] = await dockerClient().listContainers({ all: true, filters });
  return new Map(list.map((c) => [c.Names[0], { id: c.Id, state: c.State }]));
}

/** A failed run's verdict and reasons on one line, first in the message (CI shows its start). */
function verdictOf(stdout: string): string {
  try {
    const r = JSON.parse(stdout) as Results;
    return `the flagship's verdict: ${r.verdict}: ${r.reasons.join("; ")}`;
  } catch {
    return "the flagship printed no results";
  }
}

Deno.test({ name: "external stack: a cluster someone else runs", ...slow }, async (t) => {
  const name = `ext-${Deno.pid}`;
  const base = String(32_600 + (Deno.pid % 40) * 10);
  const dir = await Deno.makeTempDir({ prefix: "chaos-external-test-" });
  const engine = relayEngine("/var/run/docker.sock");
  const scenario = (...args: string[]) => runDeno(["chaos/cli_scenario.ts", ...args]);
  try {
    const up = await runDeno([
      "compose/cli_up.ts",
      ...["--stack", "docker", "--name", name, "--base-port", base, "--json"],
    ]);
    assert.equal(up.code, 0, up.stderr.slice(-2000));
    const file = JSON.parse(up.stdout);
    file.nodes["kafka-2"].docker_host = `tcp://127.0.0.1:${engine.port}`;
    const endpoints = join(dir, "endpoints.json");
    await Deno.writeTextFile(endpoints, JSON.stringify(file, null, 2));
    const before = await containersOf(name);
    assert.equal(before.size, 6);

    await t.step("what the endpoints file does not allow is refused before the run", async () => {
      const partial = structuredClone(file);
      delete partial.nodes["kafka-3"].container;
      const partialFile = join(dir, "partial.json");
      await Deno.writeTextFile(partialFile, JSON.stringify(partial));
      // The flagship's target resolves when it fires: any broker may be it.
      let r = await scenario(
        "exfil-under-broker-loss",
        "--stack",
        "external",
        "--endpoints",
        partialFile,
      );
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /faults\.0 \(kill on broker:leader-of-incident\(0\)\): nodes\.kafka-3\.container is missing/,
      );
      r = await scenario("disk-full-follower", "--stack", "external", "--endpoints", endpoints);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /disk_full cannot act on an external stack/);
      r = await scenario("exfil-under-broker-loss", "--stack", "external");
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--stack external needs --endpoints/);
      const tls = join(dir, "bad-sasl.json");
      await Deno.writeTextFile(
        tls,
        JSON.stringify({ ...file, kafka: { ...file.kafka, sasl: {} } }),
      );
      r = await scenario("exfil-under-broker-loss", "--stack", "external", "--endpoints", tls);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /kafka\.sasl\.mechanism/);
      assert.deepEqual(await containersOf(name), before, "a refused run touches nothing");
    });

    let results: Results | undefined;
    await t.step(
      "the flagship passes; its kill goes through the second engine address",
      async () => {
        const relayed = engine.connections();
        const r = await scenario(
          "exfil-under-broker-loss",
          ...[
            "--stack",
            "external",
            "--endpoints",
            endpoints,
            "--out",
            join(dir, "runs"),
            "--json",
          ],
          ...["--set", "workload.duration=70s", "--set", "faults.0.target=broker:2"],
        );
        assert.equal(
          r.code,
          0,
          `${verdictOf(r.stdout)}\n${r.stdout.slice(-3000)}${r.stderr.slice(-3000)}`,
        );
        results = JSON.parse(r.stdout) as Results;
        assert.equal(results.stack, "external");
        assert.equal(results.verdict, "pass");
        assert.equal(results.completeness?.lost, 0);
        assert.equal(results.alerts?.matched, 2);
        assert.match(results.topic ?? "", /^network-telemetry-exfil-under-broker-loss-/);
        const kill = results.faults[0];
        assert.deepEqual(kill.nodes, ["kafka-2"]);
        assert.equal(kill.observed, true, "the kill was observed");
        assert.ok(kill.healed_at, "and healed");
        assert.ok(
          engine.connections() > relayed,
          "kafka-2's engine was reached at its own address",
        );
      },
    );

    await t.step("the cluster is left as it was", async () => {
      assert.deepEqual(await containersOf(name), before, "the same containers, all running");
      const admin = kafkaClient(file.kafka.bootstrap.split(","), "ext-test").admin();
      await admin.connect();
      try {
        const topics = await admin.listTopics();
        assert.ok(!topics.includes(results!.topic!), `${results!.topic} was deleted`);
        const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
        assert.deepEqual(groups.filter((g) => g.endsWith(results!.run_id.toLowerCase())), []);
      } finally {
        await admin.disconnect();
      }
    });

    await t.step("tbf and loss through a helper on the node's own engine", async () => {
      const stack = await ExternalStack.open(parseExternalEndpoints(file, "endpoints"), {
        name: `${name}-netns`,
      });
      // No component, no webhook: these faults act on the stack alone.
      const ctx = {
        stack,
        binaries: await provision(),
        components: new Map(),
        receiver: undefined as unknown as WebhookReceiver,
      };
      const qdisc = async () => (await stack.inNetns("kafka-2", "tc qdisc show dev eth0")).out;
      const rules = async () => (await stack.inNetns("kafka-2", "iptables -S")).out;
      const healed: (() => Promise<unknown>)[] = [];
      try {
        const relayed = engine.requested();
        const tbf = await FAULTS.tbf.inject(ctx, ["kafka-2"], { rate_kbps: 200 });
        healed.push(tbf.heal);
        assert.match(await qdisc(), /qdisc tbf .*rate 1600Kbit/);
        const loss = await FAULTS.loss.inject(ctx, ["kafka-2"], { loss_pct: 5 });
        healed.push(loss.heal);
        assert.match(await rules(), /statistic --mode random --probability 0\.0499.*chaos-harness/);
        while (healed.length) await healed.pop()!();
        assert.doesNotMatch(await qdisc(), /tbf/);
        assert.doesNotMatch(await rules(), /chaos-harness/);
        assert.ok(engine.requested() > relayed, "the helpers ran on kafka-2's engine address");
      } finally {
        while (healed.length) await healed.pop()!().catch(() => {});
        await stack.down();
      }
    });

    await t.step(
      "validate --run --endpoints re-checks the store; a lost object fails it",
      async () => {
        const dirs = [];
        for await (const e of Deno.readDir(join(dir, "runs", "exfil-under-broker-loss"))) {
          dirs.push(join(dir, "runs", "exfil-under-broker-loss", e.name));
        }
        const runDir = dirs[0];
        let r = await runDeno([
          "validate/cli_validate.ts",
          "--run",
          runDir,
          "--endpoints",
          endpoints,
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /PASS/);
        const s3 = new Minio.Client(minioClientOptions(file.s3));
        const names: string[] = [];
        for await (const o of s3.listObjectsV2(file.s3.bucket, `events/${results!.topic}/`, true)) {
          names.push((o as { name: string }).name);
        }
        assert.ok(names.length > 10, `objects of the run: ${names.length}`);
        await s3.removeObject(file.s3.bucket, names[Math.floor(names.length / 2)]);
        r = await runDeno(["validate/cli_validate.ts", "--run", runDir, "--endpoints", endpoints]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /FAIL/);
      },
    );
  } finally {
    engine.close();
    await runDeno(["compose/cli_down.ts", "--name", name]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  assert.equal((await containersOf(name)).size, 0, "down removed the stack");
});
