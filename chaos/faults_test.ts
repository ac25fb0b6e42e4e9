/**
 * Each local fault of the table, injected and healed on the real stack
 * through `FAULTS[kind].inject`, with its effect measured: a killed or frozen
 * leader is replaced, latency and bandwidth show in measured round trips,
 * timeouts stall requests, resets break connections, a partition cuts the
 * leader off until a new one is elected, and a failing webhook answers 503.
 * Every heal is checked to bring the stack back.
 */

import { tolerateAbandonedRequests } from "./rejections.ts";
import assert from "node:assert/strict";
import type { Admin, Kafka, Producer } from "kafkajs";
import { provision } from "../compose/provision.ts";
import { heal as healStack, slow, testStack, topicReady } from "../compose/testing.ts";
import { kafkaBrokerIds } from "../compose/probes.ts";
import { waitFor } from "../lib/wait.ts";
import { createTopicsAndWait, kafkaClient, topicPartitions } from "../pipeline/kafka.ts";
import { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { FAULTS } from "./faults/mod.ts";
import type { Fault, FaultContext } from "./faults/types.ts";

const uniq = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

async function leaderOf(admin: Admin, topic: string): Promise<number> {
  return (await topicPartitions(admin, topic))[0].leader;
}

async function timedSend(producer: Producer, topic: string, bytes = 100): Promise<number> {
  const t0 = performance.now();
  await producer.send({ topic, acks: -1, messages: [{ value: "x".repeat(bytes) }] });
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

Deno.test({ name: "faults: each local fault's effect, then its heal", ...slow }, async (t) => {
  const tolerating = tolerateAbandonedRequests({ log: (m) => console.log(`faults: ${m}`) });
  const { stack, release } = await testStack();
  const binaries = await provision();
  const receiver = new WebhookReceiver();
  const ctx: FaultContext = { stack, binaries, components: new Map(), receiver };
  // Short requests: a metadata request stuck on a frozen broker must not eat the wait.
  const kafka: Kafka = kafkaClient(stack.endpoints.kafka.bootstrap.split(","), "faults-test", {
    requestTimeout: 4000,
  });
  const admin = kafka.admin();
  await admin.connect();
  const bootstrap = stack.endpoints.kafka.bootstrap.split(",");

  /**
   * A fresh RF 3 topic, its leader, and a connected producer that has sent to it. Only the
   * fault under test may fail a step: the topic's leader is known to every broker before the
   * first send, and a warm-up send that fails anyway (a producer without retries) is sent again.
   */
  const fixture = async (
    options: { requestTimeout?: number; retries?: number; idempotent?: boolean } = {},
  ) => {
    const topic = `faults-${uniq()}`;
    await createTopicsAndWait(admin, {
      topics: [{ topic, numPartitions: 1, replicationFactor: 3 }],
    });
    await topicReady(bootstrap, topic);
    const client = kafkaClient(bootstrap, `faults-${uniq()}`, {
      requestTimeout: options.requestTimeout ?? 30_000,
      retry: { retries: options.retries ?? 20, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const idempotent = options.idempotent ?? true; // no retries needs a plain producer
    const producer = client.producer({ idempotent, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 3; i++) {
      await waitFor(() => timedSend(producer, topic).then(() => true), {
        what: `a warm-up send to ${topic}`,
        timeoutMs: 30_000,
        intervalMs: 250,
      });
    }
    return { topic, leader: await leaderOf(admin, topic), producer };
  };
  /** Disconnects a producer that went through a fault: its last request may have failed. */
  const done = (producer: Producer) => producer.disconnect().catch(() => {});
  const inject = (kind: keyof typeof FAULTS, broker: number, params = {}) => {
    const fault: Fault = FAULTS[kind];
    return fault.inject(ctx, [`kafka-${broker}`], fault.params.parse(params));
  };
  const leaderMoves = (topic: string, from: number, what: string) =>
    waitFor(async () => {
      const l = await leaderOf(admin, topic).catch(() => from);
      return l !== from && l > 0 ? l : false;
    }, { what, timeoutMs: 60_000, intervalMs: 500 });
  /** Runs a step; whatever happens, the stack is healed after it (the next step starts clean). */
  const step = (name: string, fn: () => Promise<void>) =>
    t.step(name, async () => {
      try {
        await fn();
      } finally {
        await healStack(stack);
      }
    });

  try {
    await step("kill: the leader is replaced; heal starts it again", async () => {
      const { topic, leader, producer } = await fixture();
      const injected = await inject("kill", leader);
      assert.ok((injected.observed.killed as Record<string, number>)[`kafka-${leader}`] > 0);
      // A kill of what is already dead has no effect: never observed, not a fault that happened.
      await assert.rejects(inject("kill", leader), /not running/);
      const t0 = performance.now();
      const next = await leaderMoves(topic, leader, "a new leader after the kill");
      console.log(
        `kill: leader ${leader} -> ${next} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      await injected.heal();
      await waitFor(async () => (await kafkaBrokerIds(bootstrap)).includes(leader), {
        what: `broker ${leader} back`,
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      await done(producer);
    });

    await step("pause: the frozen leader is fenced and replaced; heal thaws it", async () => {
      const { topic, leader, producer } = await fixture();
      const injected = await inject("pause", leader);
      assert.equal(stack.broker(leader).state(), "paused");
      await leaderMoves(topic, leader, "a new leader while the old one is frozen");
      await injected.heal();
      assert.equal(stack.broker(leader).state(), "running");
      await done(producer);
    });

    await step("latency: 150 ms on the leader shows in every round trip", async () => {
      const { topic, leader, producer } = await fixture();
      const before = median(
        await Promise.all([0, 1, 2, 3, 4].map(() => timedSend(producer, topic))),
      );
      const injected = await inject("latency", leader, { latency_ms: 150 });
      const during: number[] = [];
      for (let i = 0; i < 8; i++) during.push(await timedSend(producer, topic));
      await injected.heal();
      const after: number[] = [];
      for (let i = 0; i < 8; i++) after.push(await timedSend(producer, topic));
      console.log(
        `latency: median ${before.toFixed(0)} -> ${median(during).toFixed(0)} -> ${
          median(after).toFixed(0)
        } ms`,
      );
      assert.ok(Math.min(...during) >= 150, `a round trip took ${Math.min(...during)} ms`);
      assert.ok(median(after) < median(during) - 100, "the heal removed the latency");
      await done(producer);
    });

    await step("bandwidth: 32 KiB/s on the leader slows 160 KiB to seconds", async () => {
      const { topic, leader, producer } = await fixture();
      const send = async () => {
        const t0 = performance.now();
        for (let i = 0; i < 10; i++) await timedSend(producer, topic, 16 * 1024);
        return (performance.now() - t0) / 1000;
      };
      const fast = await send();
      const injected = await inject("bandwidth", leader, { rate_kbps: 32 });
      assert.deepEqual(injected.observed.rate, 32);
      const slowS = await send();
      await injected.heal();
      const healed = await send();
      console.log(
        `bandwidth: 160 KiB in ${fast.toFixed(2)} s, limited ${slowS.toFixed(2)} s, healed ${
          healed.toFixed(2)
        } s`,
      );
      assert.ok(slowS >= 3, `160 KiB at 32 KiB/s took only ${slowS} s`);
      assert.ok(healed < slowS / 2, "the heal lifted the limit");
      await done(producer);
    });

    await step("timeout: requests to the leader stall; heal lets them through", async () => {
      const { topic, leader, producer } = await fixture({
        requestTimeout: 2000,
        retries: 0,
        idempotent: false,
      });
      const injected = await inject("timeout", leader, { timeout_ms: 0, listeners: ["client"] });
      const t0 = performance.now();
      await assert.rejects(timedSend(producer, topic), "a send through a stalled link failed");
      const waited = performance.now() - t0;
      console.log(`timeout: the send gave up after ${waited.toFixed(0)} ms`);
      assert.ok(waited >= 1500, `the send failed at once (${waited} ms), it did not stall`);
      await injected.heal();
      await done(producer);
      const again = await fixture();
      await timedSend(again.producer, again.topic);
      await again.producer.disconnect();
    });

    await step("reset: connections to the leader are reset; heal restores them", async () => {
      const { topic, leader, producer } = await fixture({
        requestTimeout: 5000,
        retries: 0,
        idempotent: false,
      });
      const injected = await inject("reset", leader, { listeners: ["client"] });
      await assert.rejects(timedSend(producer, topic), "a send over reset connections failed");
      await injected.heal();
      await done(producer);
      const again = await fixture();
      await timedSend(again.producer, again.topic);
      await again.producer.disconnect();
    });

    await step(
      "partition: the isolated leader loses its partition; heal brings it back",
      async () => {
        const { topic, leader, producer } = await fixture();
        const injected = await inject("partition", leader);
        assert.equal(
          (injected.observed.disabled as string[]).length,
          7,
          "client, internal, controller, and the quorum links into it (2) and out of it (2)",
        );
        await leaderMoves(topic, leader, "a new leader for the isolated one's partition");
        await injected.heal();
        await waitFor(async () => {
          const meta = await admin.fetchTopicMetadata({ topics: [topic] });
          return meta.topics[0].partitions[0].isr.includes(leader);
        }, { what: `broker ${leader} back in the ISR`, timeoutMs: 60_000, intervalMs: 500 });
        await done(producer);
      },
    );

    await step("cpu: the loaded leader held to 0.2 core; heal lifts the limit", async () => {
      const { topic, leader, producer } = await fixture();
      const pid = stack.broker(leader).pid()!;
      const origin = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
      const injected = await inject("cpu", leader, { cores: 0.2 });
      let healed: Record<string, unknown> | undefined;
      try {
        assert.deepEqual(injected.observed.cores, { [`kafka-${leader}`]: 0.2 });
        // Load that wants more than a fifth of a core: produce as fast as the leader answers.
        const until = performance.now() + 6000;
        let sent = 0;
        while (performance.now() < until) {
          await producer.send({
            topic,
            acks: -1,
            messages: Array.from({ length: 200 }, () => ({ value: "x".repeat(400) })),
          });
          sent += 200;
        }
        healed = await injected.heal();
        const used = (healed.cores_used as Record<string, number>)[`kafka-${leader}`];
        console.log(`cpu: the leader used ${used} cores under a 0.2 limit (${sent} records sent)`);
        assert.ok(used <= 0.2 * 1.3 + 0.02, `used ${used} cores under a 0.2 limit`);
      } finally {
        if (!healed) await injected.heal();
      }
      assert.equal(Deno.readTextFileSync(`/proc/${pid}/cgroup`), origin, "back where it was");
      await done(producer);
    });

    await step(
      "memory: a follower under 64 MiB is OOM-killed; heal restarts it on its data",
      async () => {
        const { topic, leader, producer } = await fixture();
        const follower = [1, 2, 3].find((id) => id !== leader)!;
        const name = `kafka-${follower}`;
        const pid = stack.broker(follower).pid()!;
        const injected = await inject("memory", follower, { limit_mb: 64 });
        let healed: Record<string, unknown> | undefined;
        try {
          const limits = injected.observed.limits as Record<string, { held_mb: number }>;
          console.log(`memory: ${name} held ${limits[name].held_mb} MiB; limited to 64 MiB`);
          assert.deepEqual(injected.observed.oom_killed, [name]);
          assert.equal(stack.broker(follower).state(), "dead");
          // Kafka goes on with two brokers: acknowledged sends meanwhile.
          for (let i = 0; i < 3; i++) await timedSend(producer, topic);
          healed = await injected.heal();
          assert.deepEqual(healed.restarted, [name]);
          const kills = (healed.oom_kills as Record<string, number | null>)[name];
          assert.ok(kills === null || kills >= 1, `the cgroup counted ${kills} OOM kills`);
        } finally {
          if (!healed) await injected.heal();
        }
        assert.notEqual(stack.broker(follower).pid(), pid, "a new process");
        await waitFor(async () => {
          const meta = await admin.fetchTopicMetadata({ topics: [topic] });
          return meta.topics[0].partitions[0].isr.includes(follower);
        }, { what: `broker ${follower} back in the ISR`, timeoutMs: 90_000, intervalMs: 500 });
        const left = [...Deno.readDirSync("/sys/fs/cgroup/memory/chaos-harness")]
          .filter((e) => e.isDirectory).map((e) => e.name);
        assert.deepEqual(left, [], "no cgroup left");
        await done(producer);
      },
    );

    await step("webhook_fail: the receiver answers 503 until healed", async () => {
      const injected = await FAULTS.webhook_fail.inject(ctx, [], { status: 503 });
      const post = () =>
        fetch(receiver.url, { method: "POST", body: "{}" }).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        });
      assert.equal(await post(), 503);
      await injected.heal();
      assert.equal(await post(), 200);
    });
  } finally {
    await admin.disconnect();
    await receiver.stop();
    await release();
    tolerating();
  }
});
