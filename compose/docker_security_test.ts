/**
 * The docker stack's security against real containers (as the local stack's:
 * kafka_acl_test.ts, redis_acl_stack_test.ts): the harness's clients get its
 * SCRAM user by address; with a run's ACLs the sink consumes the run's topic in
 * its own group and may neither delete the topic nor create ACLs; a client
 * without a user gets no answer; the pipeline's Redis user gets NOPERM for
 * CLIENT PAUSE, SHUTDOWN, FLUSHALL; the state file (0600) holds the passwords
 * and an attached stack's clients are the harness user again; nothing left.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { Redis } from "ioredis";
import { dockerClient, STACK_LABEL } from "./docker.ts";
import { DockerStack } from "./docker_stack.ts";
import { dockerStateFile, removeDockerState } from "./docker_state.ts";
import { grantAcls, kafkajsAcls, revokeAcls, stackRunAcls } from "./kafka_acl.ts";
import type { KafkaUser } from "./kafka_scram.ts";
import { slow } from "./testing.ts";
import { createTopicsAndWait, kafkaClient } from "../pipeline/kafka.ts";
import { securityFor } from "../pipeline/kafka_security.ts";

const BASE = Number(Deno.env.get("CHAOS_TEST_BASE_PORT") ?? 25200);

/** A kafkajs client of `bootstrap` as `user` (none: no SASL at all), failing fast. */
function clientAs(bootstrap: string, user?: KafkaUser): Kafka {
  return new Kafka({
    clientId: `docker-security-${user?.username ?? "anonymous"}`,
    brokers: bootstrap.split(","),
    ...(user ? { sasl: { mechanism: "scram-sha-512", ...user } } : {}),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
  });
}

/** The kafkajs error type `fn` fails with (its message if none); "ok" when it does not fail. */
async function refusal(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return "ok";
  } catch (error) {
    type Wrapped = { type?: string; message?: string; errors?: Wrapped[]; cause?: Wrapped };
    const seen = new Set<Wrapped>();
    const queue: (Wrapped | undefined)[] = [error as Wrapped];
    while (queue.length) {
      const e = queue.shift();
      if (!e || seen.has(e)) continue;
      seen.add(e);
      if (e.type) return e.type;
      queue.push(e.cause, ...(e.errors ?? []));
    }
    return String((error as Error).message);
  }
}

Deno.test({
  name: "docker stack: SCRAM users, a run's ACLs and Redis users hold against the pipeline",
  ...slow,
  async fn() {
    const name = `test-docker-sec-${Deno.pid}`;
    const started = performance.now();
    const stack = await DockerStack.up({ name, basePort: BASE, heapMb: 512 });
    console.log(
      `docker stack (SCRAM, ACLs, Redis users) up in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s`,
    );
    const users = stack.kafkaUsers;
    const bootstrap = stack.endpoints.kafka.bootstrap;
    const suffix = crypto.randomUUID().slice(0, 8);
    const names = {
      topic: `sec-${suffix}`,
      sinkGroup: `sec-sink-${suffix}`,
      detectorGroup: `sec-detector-${suffix}`,
    };
    const close: (() => Promise<unknown>)[] = [];
    try {
      assert.ok(users, "the docker stack has SCRAM users");
      assert.deepEqual(securityFor(bootstrap).sasl?.username, users.harness.username);
      assert.equal(stack.endpoints.kafka.sasl?.username, users.harness.username);

      // The harness (super user, by address): creates the topic and grants the run's ACLs.
      const harness = kafkaClient(bootstrap.split(","), "docker-security-harness", {
        logLevel: logLevel.NOTHING,
      }).admin();
      await harness.connect();
      close.push(() => harness.disconnect());
      await createTopicsAndWait(harness, {
        topics: [{ topic: names.topic, numPartitions: 2, replicationFactor: 3 }],
      });
      const grants = stackRunAcls(users, names)!;
      await grantAcls(harness, grants);
      close.push(() => revokeAcls(harness, grants));

      const producer = clientAs(bootstrap, users.generator).producer({
        idempotent: true,
        maxInFlightRequests: 1,
        retry: { retries: 3 },
      });
      await producer.connect();
      close.push(() => producer.disconnect());
      await producer.send({
        topic: names.topic,
        acks: -1,
        messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
      });

      // The sink consumes in its own group (once a young cluster's coordinator answers)...
      for (let i = 0;; i++) {
        try {
          await harness.fetchOffsets({ groupId: names.sinkGroup, topics: [names.topic] });
          break;
        } catch (error) {
          if (i >= 40) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
      const sink = clientAs(bootstrap, users.sink);
      const consumer = sink.consumer({ groupId: names.sinkGroup, retry: { retries: 10 } });
      const crashes: string[] = [];
      consumer.on(consumer.events.CRASH, (e) => crashes.push(String(e.payload.error)));
      await consumer.connect();
      close.push(() => consumer.disconnect());
      await consumer.subscribe({ topic: names.topic, fromBeginning: true });
      let consumed = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${consumed}/10 records; ${crashes.join("; ")}`)),
          60_000,
        );
        consumer.run({
          eachMessage: () => {
            if (++consumed === 10) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        });
      });
      await consumer.stop();

      // ...and may neither delete the run's topic nor grant itself more.
      const sAdmin = sink.admin();
      await sAdmin.connect();
      close.push(() => sAdmin.disconnect());
      assert.equal(
        await refusal(() => sAdmin.deleteTopics({ topics: [names.topic], timeout: 5000 })),
        "TOPIC_AUTHORIZATION_FAILED",
      );
      assert.equal(
        await refusal(() =>
          sAdmin.createAcls({
            acl: kafkajsAcls([{
              principal: `User:${users.sink.username}`,
              resource: "topic",
              name: names.topic,
              operation: "WRITE",
            }]),
          })
        ),
        "CLUSTER_AUTHORIZATION_FAILED",
      );
      // A client without a user (PLAINTEXT) is not answered.
      const anonymous = clientAs(bootstrap).admin();
      const denied = await refusal(() => anonymous.connect().then(() => anonymous.listTopics()));
      assert.notEqual(denied, "ok");
      await anonymous.disconnect().catch(() => {});
      const offsets = await harness.fetchTopicOffsets(names.topic);
      assert.equal(offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0), 10);

      // Redis: the pipeline's user works, but cannot pause, stop or wipe the harness's Redis.
      const options = { lazyConnect: true, maxRetriesPerRequest: 0, commandTimeout: 3000 };
      const url = stack.redisPipelineUrl;
      assert.ok(url && url !== stack.endpoints.redis.url, "a Redis user of the pipeline's own");
      const pipeline = new Redis(url, options);
      const root = new Redis(stack.endpoints.redis.url, options);
      const { hostname, port } = new URL(url);
      const nobody = new Redis(`redis://${hostname}:${port}`, options);
      for (const r of [pipeline, root, nobody]) r.on("error", () => {});
      close.push(() => Promise.resolve([pipeline, root, nobody].forEach((r) => r.disconnect())));
      assert.equal(await pipeline.set(`sec:${suffix}`, "1", "PX", 5000, "NX"), "OK");
      for (
        const command of [["CLIENT", "PAUSE", "600000", "ALL"], ["SHUTDOWN", "NOSAVE"], [
          "FLUSHALL",
        ]]
      ) {
        await assert.rejects(pipeline.call(command[0], ...command.slice(1)), /NOPERM/);
      }
      assert.equal(await root.get(`sec:${suffix}`), "1");
      await assert.rejects(nobody.get(`sec:${suffix}`), /NOAUTH/);
      assert.ok(await stack.nodeReady("redis"));

      // The state file: 0600, the passwords in it; an attached stack's clients are the harness.
      await stack.persist();
      close.push(() => removeDockerState(name));
      const file = dockerStateFile(name);
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      const state = JSON.parse(await Deno.readTextFile(file));
      assert.deepEqual(state.kafkaUsers, users);
      const attached = await DockerStack.attach(name);
      assert.deepEqual(attached?.kafkaUsers, users);
      assert.equal(attached?.redisPipelineUrl, url);
      assert.equal(securityFor(bootstrap).sasl?.username, users.harness.username);
      // No argument file of the format left in a broker's folder.
      for (const id of stack.brokerIds()) {
        await assert.rejects(Deno.stat(`${stack.dataDir}/kafka-${id}/scram.args`));
      }
    } finally {
      for (const fn of close.reverse()) await fn().catch(() => {});
      await stack.down();
    }
    assert.equal(securityFor(bootstrap).sasl, undefined, "forgotten with the stack");
    const left = await dockerClient().listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${STACK_LABEL}=${name}`] }),
    });
    assert.deepEqual(left, []);
  },
});
