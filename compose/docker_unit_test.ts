/**
 * The docker stack's pure parts, without an engine: the compose file for users
 * with registries, the iptables rules of a partition, the up-front rejection
 * of what a stack cannot do, the demultiplexing of Docker's log streams, and
 * how a container's pause copes with the engine's transient refusals.
 */

import assert from "node:assert/strict";
import { parse } from "yaml";
import { partitionRules } from "../chaos/faults/docker_net.ts";
import { stackProblems } from "../chaos/faults/mod.ts";
import { parseQuorumLeader } from "./quorum.ts";
import type Docker from "dockerode";
import { demux } from "./docker.ts";
import { DockerNode } from "./docker_node.ts";
import { portPlan } from "./ports.ts";

Deno.test("docker-compose.yml: three KRaft brokers, overridable images, no secrets", async () => {
  const text = await Deno.readTextFile(new URL("./docker-compose.yml", import.meta.url));
  const doc = parse(text, { merge: true }) as {
    services: Record<string, { image: string; environment?: Record<string, unknown> }>;
  };
  const brokers = ["kafka-1", "kafka-2", "kafka-3"].map((n) => doc.services[n]);
  assert.deepEqual(brokers.map((b) => b.environment?.KAFKA_NODE_ID), [1, 2, 3]);
  for (const b of brokers) {
    assert.match(b.image, /^\$\{KAFKA_IMAGE:-apache\/kafka:/);
    assert.equal(b.environment?.KAFKA_PROCESS_ROLES, "broker,controller");
  }
  for (const s of ["minio", "redis", "toxiproxy", "prometheus"]) {
    assert.ok(doc.services[s], `service ${s}`);
    assert.match(doc.services[s].image, /^\$\{[A-Z_]+_IMAGE:-/);
  }
  assert.match(text, /MINIO_ROOT_PASSWORD: \$\{CHAOS_S3_SECRET_KEY:\?/);
});

Deno.test("partitionRules: a broker cut from all drops its listeners and its sends to peers", () => {
  const plan = portPlan(29000, 3);
  const rules = partitionRules({ plan }, 1, ["client", "internal", "controller"], [2, 3]);
  const b1 = plan.brokers[0];
  for (const port of [b1.client.real, b1.internal.real, b1.controller.real]) {
    assert.ok(rules.some((r) => r.startsWith(`INPUT -p tcp --dport ${port} `)), `INPUT ${port}`);
  }
  // Fetches from the peers' internal proxies and its quorum links to them.
  for (const port of [plan.brokers[1].internal.proxy, b1.quorum[2], b1.quorum[3]]) {
    assert.ok(rules.some((r) => r.startsWith(`OUTPUT -p tcp --dport ${port} `)), `OUTPUT ${port}`);
  }
  assert.ok(rules.every((r) => r.endsWith("-m comment --comment chaos-harness -j DROP")));
  // Its own quorum link to itself stays open in OUTPUT.
  assert.ok(!rules.some((r) => r.includes(`--dport ${b1.quorum[1]} `)));
});

Deno.test("partitionRules: one link drops only what each side sends to the other", () => {
  const plan = portPlan(29000, 3);
  const rules = partitionRules({ plan }, 1, ["internal", "controller"], [2]);
  assert.deepEqual(rules.map((r) => r.split(" -m comment")[0]), [
    `OUTPUT -p tcp --dport ${plan.brokers[1].internal.proxy}`,
    `OUTPUT -p tcp --dport ${plan.brokers[0].quorum[2]}`,
  ]);
});

Deno.test("stackProblems: what a stack cannot do is named before the run", () => {
  const faults = [
    { kind: "netem", target: "broker:1" },
    { kind: "partition", target: "link:1-2" },
    { kind: "kill", target: "broker:2" },
  ];
  const local = stackProblems(faults, "local");
  assert.equal(local.length, 2);
  assert.match(local[0], /faults\.0: netem needs the docker stack: run with --stack docker/);
  assert.match(local[1], /faults\.1\.target: link:1-2: the local stack cannot cut one link/);
  const noNetem = stackProblems(faults, "docker", false);
  assert.equal(noNetem.length, 1);
  assert.match(noNetem[0], /sch_netem.*Specified qdisc kind is unknown.*latency fault/);
  assert.deepEqual(stackProblems(faults, "docker", true), []);
});

Deno.test("demux: Docker's multiplexed log frames, or raw bytes from a TTY", () => {
  const frame = (stream: number, text: string) => {
    const body = new TextEncoder().encode(text);
    const out = new Uint8Array(8 + body.length);
    out[0] = stream;
    new DataView(out.buffer).setUint32(4, body.length);
    out.set(body, 8);
    return out;
  };
  assert.equal(demux([frame(1, "hello "), frame(2, "world")]), "hello world");
  assert.equal(demux([new TextEncoder().encode("plain text")]), "plain text");
});

Deno.test("parseQuorumLeader: the active controller out of kafka-metadata-quorum's status", () => {
  const status = [
    "ClusterId:              abc",
    "LeaderId:               2",
    "LeaderEpoch:            3",
    "HighWatermark:          120",
    'CurrentVoters:          [{"id": 1}, {"id": 2}, {"id": 3}]',
  ].join("\n");
  assert.equal(parseQuorumLeader(status), 2);
  assert.equal(parseQuorumLeader("Error: timed out"), undefined);
});

Deno.test("DockerNode.pause tries again when runc could not freeze, resume likewise", async () => {
  // The engine's answers as seen in CI: the first freezes fail, the container stays running.
  let paused = false;
  let pauses = 0;
  let unpauses = 0;
  const container = {
    inspect: () =>
      Promise.resolve({
        State: { Paused: paused, Running: true, Pid: 42 },
        NetworkSettings: { Networks: {} },
      }),
    pause: () => {
      pauses++;
      if (pauses < 3) {
        return Promise.reject(
          new Error("(HTTP code 500) server error - OCI runtime pause failed: unable to freeze"),
        );
      }
      paused = true;
      return Promise.resolve();
    },
    unpause: () => {
      unpauses++;
      paused = unpauses < 2; // the first thaw does not take
      return Promise.resolve();
    },
  };
  const node = new DockerNode("kafka-1", container as unknown as Docker.Container);
  await node.pause();
  assert.equal(node.state(), "paused");
  assert.equal(pauses, 3);
  await node.pause(); // already paused: nothing to do
  assert.equal(pauses, 3);
  await node.resume();
  assert.equal(node.state(), "running");
  assert.equal(unpauses, 2);
});
