/**
 * The docker stack against the real Docker engine: each fault through the
 * Docker API or in the target's network namespace, with its effect observed
 * from Kafka's own metadata or measured, then its heal; and afterwards no
 * container, helper or network labelled with the stack is left.
 *
 * - kill: the broker is fenced (gone from the metadata), back after the heal;
 * - pause: the frozen broker's heartbeats stop, so the controller fences it;
 * - partition (iptables): the isolated broker drops out of the ISR;
 * - partition of one link between the two brokers that are not the active
 *   controller: the follower leaves the leader's ISR, the third stays in it,
 *   and both stay registered (cutting a broker's link to the active controller
 *   would fence it: its heartbeats go there);
 * - tbf: the measured rate of a 900 KiB write is near the limit;
 * - loss: the statistic rules are in the namespace, and gone after the heal;
 * - cpu: the container's CPU limit set through the engine, and lifted;
 * - memory: the container OOM-killed (the engine says OOMKilled), restarted;
 * - disconnect: the broker is fenced; back with the same address;
 * - netem: rejected up front on a kernel without sch_netem (as here), else
 *   measured.
 */

import assert from "node:assert/strict";
import type { Admin, Kafka } from "kafkajs";
import { dockerClient, STACK_LABEL } from "../compose/docker.ts";
import { DockerStack } from "../compose/docker_stack.ts";
import { mountsUnder } from "../compose/disk.ts";
import { kafkaBrokerIds } from "../compose/probes.ts";
import { provision } from "../compose/provision.ts";
import { heal, slow, topicReady } from "../compose/testing.ts";
import { waitFor } from "../lib/wait.ts";
import { createTopicsAndWait, kafkaClient } from "../pipeline/kafka.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { FAULTS, stackProblems } from "./faults/mod.ts";
import type { Fault, FaultContext } from "./faults/types.ts";
import { activeController } from "../compose/quorum.ts";
import { tolerateAbandonedRequests } from "./rejections.ts";

const uniq = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** The ISR of partition 0 of `topic` and its leader. */
async function partition0(admin: Admin, topic: string): Promise<{ leader: number; isr: number[] }> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const p = meta.topics[0].partitions[0];
  return { leader: p.leader, isr: [...p.isr].sort() };
}

Deno.test(
  { name: "docker: each fault's effect on real containers, then its heal; nothing left", ...slow },
  async (t) => {
    const tolerating = tolerateAbandonedRequests({ log: (m) => console.log(`docker: ${m}`) });
    const name = `test-docker-${Deno.pid}`;
    // Followers that stop fetching leave the ISR after 10 s (Kafka's default: 30 s).
    const stack = await DockerStack.up({
      name,
      kafka: { overrides: { "replica.lag.time.max.ms": 10_000 } },
      heapMb: 512,
      diskMb: 512,
    });
    const ctx: FaultContext = {
      stack,
      binaries: await provision(),
      components: new Map(),
      receiver: new WebhookReceiver(),
    };
    const bootstrap = stack.endpoints.kafka.bootstrap.split(",");
    const kafka: Kafka = kafkaClient(bootstrap, "docker-test", { requestTimeout: 4000 });
    const admin = kafka.admin();
    await admin.connect();
    const inject = (kind: keyof typeof FAULTS, target: string, params = {}) => {
      const fault: Fault = FAULTS[kind];
      return fault.inject(ctx, [target], fault.params.parse(params));
    };
    const brokers = () => kafkaBrokerIds(bootstrap).catch(() => [] as number[]);
    const until = (what: string, fn: () => Promise<boolean>, timeoutMs = 60_000) =>
      waitFor(fn, { what, timeoutMs, intervalMs: 500 });
    const allBack = () =>
      until("3 brokers in the metadata", async () => (await brokers()).length === 3, 90_000);
    /** A fresh RF 3 topic whose partition 0 the chosen broker leads. */
    const topicLedBy = async (leader: number) => {
      const topic = `docker-${uniq()}`;
      const others = stack.brokerIds().filter((b) => b !== leader);
      await createTopicsAndWait(admin, {
        topics: [{ topic, replicaAssignment: [{ partition: 0, replicas: [leader, ...others] }] }],
      });
      await until(
        `${topic} fully in sync`,
        async () => (await partition0(admin, topic)).isr.length === 3,
      );
      await topicReady(bootstrap, topic); // only the fault under test may fail a step
      return topic;
    };
    /** Runs a step; whatever happens, the stack is healed after it (the next step starts clean). */
    const step = (name: string, fn: () => Promise<void>) =>
      t.step(name, async () => {
        try {
          await fn();
        } finally {
          await heal(stack);
        }
      });
    try {
      await step("kill: the broker is fenced; heal starts it on its own data", async () => {
        const injected = await inject("kill", "kafka-2");
        assert.equal(stack.broker(2).state(), "dead");
        await until("kafka-2 fenced", async () => !(await brokers()).includes(2));
        await injected.heal();
        await allBack();
      });

      await step("pause: a frozen broker stops heartbeating and is fenced", async () => {
        const injected = await inject("pause", "kafka-3");
        const info = await stack.broker(3).container.inspect();
        assert.equal(info.State.Paused, true);
        const t0 = performance.now();
        await until("kafka-3 fenced while paused", async () => !(await brokers()).includes(3));
        console.log(`pause: fenced after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        await injected.heal();
        assert.equal(stack.broker(3).state(), "running");
        await allBack();
      });

      await step("partition (iptables): the isolated follower drops out of the ISR", async () => {
        const topic = await topicLedBy(1);
        const injected = await inject("partition", "kafka-3");
        const rules = (injected.observed.iptables as Record<string, string[]>)["kafka-3"];
        assert.ok(rules.length >= 5, `rules: ${rules.join(" | ")}`);
        const t0 = performance.now();
        await until(
          "kafka-3 out of the ISR",
          async () => !(await partition0(admin, topic)).isr.includes(3),
        );
        console.log(
          `partition: out of the ISR after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
        await injected.heal();
        await until(
          "kafka-3 back in the ISR",
          async () => (await partition0(admin, topic)).isr.length === 3,
          90_000,
        );
      });

      await step(
        "partition of one link: the follower leaves the ISR, the third stays",
        async () => {
          const controller = await activeController(ctx.binaries, bootstrap.join(","));
          const [a, b] = stack.brokerIds().filter((id) => id !== controller);
          const topic = await topicLedBy(a);
          const injected = await inject("partition", `link:${a}-${b}`);
          const t0 = performance.now();
          // A follower that stops fetching stays in the ISR while it has everything: the leader
          // drops it only once it lags (replica.lag.time.max.ms). So the leader gets writes.
          const writer = kafka.producer();
          await writer.connect();
          let writing = true;
          const writes = (async () => {
            while (writing) {
              await writer.send({ topic, acks: 1, messages: [{ value: "x" }] }).catch(() => {});
              await new Promise((r) => setTimeout(r, 300));
            }
          })();
          await until(`kafka-${b} out of the ISR of ${a}'s partition`, async () => {
            const { isr } = await partition0(admin, topic);
            return !isr.includes(b);
          });
          console.log(
            `link ${a}-${b}: ${b} out of the ISR after ${
              ((performance.now() - t0) / 1000).toFixed(1)
            } s`,
          );
          writing = false;
          await writes;
          await writer.disconnect();
          const { leader, isr } = await partition0(admin, topic);
          assert.equal(leader, a, `leader ${leader}, ISR ${isr}, controller ${controller}`);
          assert.ok(isr.includes(controller), `${controller} must stay in sync, ISR ${isr}`);
          assert.deepEqual((await brokers()).sort(), [1, 2, 3], "both stay registered");
          await injected.heal();
          await until(
            `kafka-${b} back in the ISR`,
            async () => (await partition0(admin, topic)).isr.length === 3,
            90_000,
          );
        },
      );

      await step(
        "tbf: a write through the limited leader takes as long as the limit says",
        async () => {
          const topic = await topicLedBy(1);
          const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
          await producer.connect();
          const bytes = 900 * 1024;
          const send = async () => {
            const t0 = performance.now();
            await producer.send({ topic, acks: -1, messages: [{ value: "x".repeat(bytes) }] });
            return (performance.now() - t0) / 1000;
          };
          await send(); // the producer's id, metadata and connections
          const before = Math.min(await send(), await send());
          const rate = 256; // KiB/s
          const injected = await inject("tbf", "kafka-1", { rate_kbps: rate });
          const during = await send().finally(() => injected.heal());
          // Both followers fetch the record from the leader: 2 × 900 KiB through the bucket.
          const measured = (2 * bytes / 1024) / during;
          console.log(
            `tbf: 900 KiB acks=all in ${before.toFixed(2)} s before, ${during.toFixed(2)} s at ` +
              `${rate} KiB/s (measured ${measured.toFixed(0)} KiB/s out of the leader)`,
          );
          assert.ok(measured < rate * 1.5, `measured ${measured.toFixed(0)} KiB/s, limit ${rate}`);
          const least = (2 * bytes / 1024) / rate / 1.5;
          assert.ok(
            during > least,
            `during ${during.toFixed(2)} s, at least ${least.toFixed(2)} s`,
          );
          assert.ok(
            during > before,
            `before ${before.toFixed(2)} s, during ${during.toFixed(2)} s`,
          );
          await producer.disconnect();
        },
      );

      await step("loss: random drops in the namespace; the heal removes the rules", async () => {
        const list = () =>
          stack.runHelper(stack.images.nethelper, ["iptables", "-S"], { netnsOf: "kafka-2" });
        const injected = await inject("loss", "kafka-2", { loss_pct: 20 });
        const during = await list();
        assert.match(during.out, /statistic --mode random --probability 0\.2\d* .*chaos-harness/);
        await injected.heal();
        assert.doesNotMatch((await list()).out, /chaos-harness/);
        await allBack();
      });

      await step("cpu: the container's limit is 0.3 core; heal lifts it", async () => {
        const injected = await inject("cpu", "kafka-3", { cores: 0.3 });
        assert.deepEqual(injected.observed.cores, { "kafka-3": 0.3 });
        const limited = await stack.broker(3).container.inspect();
        assert.equal(limited.HostConfig.CpuQuota, 30_000);
        await new Promise((r) => setTimeout(r, 2000));
        const healed = await injected.heal();
        const used = (healed.cores_used as Record<string, number | null>)["kafka-3"];
        assert.ok(used !== null && used <= 0.3 * 1.3 + 0.02, `used ${used} cores under 0.3`);
        const lifted = await stack.broker(3).container.inspect();
        assert.equal(lifted.HostConfig.CpuQuota, -1);
        await allBack();
      });

      await step("memory: the container OOM-killed under 64 MiB; heal restarts it", async () => {
        const injected = await inject("memory", "kafka-2", { limit_mb: 64 });
        assert.deepEqual(injected.observed.oom_killed, ["kafka-2"]);
        const info = await stack.broker(2).container.inspect();
        assert.equal(info.State.OOMKilled, true, "the engine saw the kernel's OOM kill");
        const healed = await injected.heal();
        assert.deepEqual(healed.restarted, ["kafka-2"]);
        await allBack();
      });

      await step(
        "disk_full: a follower's full disk stops it; heal restarts it intact",
        async () => {
          // The admin's connection to the broker the memory step killed may be reset first.
          const topic = await waitFor(() => topicLedBy(1), {
            what: "a topic led by kafka-1",
            timeoutMs: 60_000,
            intervalMs: 500,
          });
          const producer = kafkaClient(bootstrap, "docker-disk", { requestTimeout: 10_000 })
            .producer({ idempotent: true, maxInFlightRequests: 1 });
          await waitFor(() => producer.connect().then(() => true), {
            what: "a producer connected",
            timeoutMs: 60_000,
            intervalMs: 500,
          });
          let acked = 0;
          let sending = true;
          // Replication under way: the follower appends, and its disk refuses.
          const load = (async () => {
            while (sending) {
              await producer.send({
                topic,
                acks: -1,
                messages: Array.from({ length: 50 }, () => ({ value: "x".repeat(500) })),
              }).then(() => acked += 50, () => {});
            }
          })();
          try {
            const injected = await inject("disk_full", "kafka-3");
            const filled = injected.observed.filled as Record<string, { free_mb: number }>;
            assert.ok(filled["kafka-3"].free_mb < 1, `${filled["kafka-3"].free_mb} MiB left`);
            assert.deepEqual(injected.observed.stopped, ["kafka-3"], "Kafka stops on a full disk");
            const why = (injected.observed.why as Record<string, string>)["kafka-3"];
            console.log(`disk_full: kafka-3 stopped: ${why}`);
            assert.ok(why, "the log says why");
            const before = acked;
            await until(
              "acknowledged sends without kafka-3",
              () => Promise.resolve(acked > before + 200),
            );
            const healed = await injected.heal();
            assert.deepEqual(healed.restarted, ["kafka-3"]);
            await until(
              "kafka-3 back in the ISR on its data",
              async () => (await partition0(admin, topic)).isr.includes(3),
              90_000,
            );
          } finally {
            sending = false;
            await load;
            await producer.disconnect().catch(() => {});
          }
          const [{ high }] = await admin.fetchTopicOffsets(topic);
          assert.ok(Number(high) >= acked, `${high} records kept, ${acked} acknowledged`);
        },
      );

      await step("disconnect: the broker leaves the network; heal brings it back", async () => {
        const ip = stack.broker(2).ip();
        const injected = await inject("disconnect", "kafka-2");
        await until(
          "kafka-2 fenced while disconnected",
          async () => !(await brokers()).includes(2),
        );
        await injected.heal();
        await stack.broker(2).refresh();
        assert.equal(stack.broker(2).ip(), ip);
        await allBack();
      });

      await step("netem: rejected before the run without sch_netem, else measured", async () => {
        const problems = stackProblems(
          [{ kind: "netem", target: "broker:1" }],
          "docker",
          stack.netem,
        );
        if (!stack.netem) {
          assert.match(problems[0], /sch_netem.*latency fault \(Toxiproxy\)/);
          return;
        }
        const injected = await inject("netem", "kafka-1", { latency_ms: 100 });
        await injected.heal();
      });
    } finally {
      await admin.disconnect().catch(() => {});
      await stack.down();
      tolerating();
    }
    const filters = JSON.stringify({ label: [`${STACK_LABEL}=${name}`] });
    assert.deepEqual(await dockerClient().listContainers({ all: true, filters }), []);
    assert.deepEqual(await dockerClient().listNetworks({ filters }), []);
    assert.deepEqual(mountsUnder(stack.dataDir), [], "no bounded disk left mounted");
  },
);
