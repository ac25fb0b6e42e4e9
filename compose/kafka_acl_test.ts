/**
 * The local stack's Kafka security: the run's ACLs (planner and checks), the SCRAM users made at
 * format time, the brokers' settings, what each component is handed, and (slow, on a real stack)
 * what a sink's, a generator's and a wrong password's clients may and may not do.
 */

import assert from "node:assert/strict";
import {
  AclOperationTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from "kafkajs";
import { Admin as PlatformaticAdmin } from "@platformatic/kafka";
import {
  type AclGrant,
  AclPlanError,
  checkGrants,
  CLUSTER_RESOURCE,
  grantAcls,
  GRANTED_OPERATIONS,
  kafkajsAcls,
  revokeAcls,
  type RunAclInput,
  runAcls,
  stackRunAcls,
} from "./kafka_acl.ts";
import {
  KAFKA_ROLES,
  type KafkaUser,
  makeKafkaUsers,
  roleSecurity,
  scramFormatArgs,
  ScramUserError,
} from "./kafka_scram.ts";
import { brokerConfig } from "./kafka_config.ts";
import { portPlan } from "./ports.ts";
import { slow, testStack } from "./testing.ts";
import { kafkaClient } from "../pipeline/kafka.ts";
import { forgetSecurityFor, securityFor, useSecurityFor } from "../pipeline/kafka_security.ts";

const input: RunAclInput = {
  topic: "network-telemetry",
  sinkGroup: "telemetry-sink",
  detectorGroup: "telemetry-detector",
  users: { generator: "g", sink: "s", detector: "d", pipeline: "p" },
};

const key = (a: AclGrant) => `${a.principal} ${a.operation} ${a.resource}:${a.name}`;

Deno.test("runAcls() grants each part of the pipeline its run's rights and nothing else", () => {
  const grants = runAcls(input).map(key).sort();
  assert.deepEqual(grants, [
    "User:d DESCRIBE topic:network-telemetry",
    "User:d READ group:telemetry-detector",
    "User:d READ topic:network-telemetry",
    "User:g DESCRIBE topic:network-telemetry",
    `User:g IDEMPOTENT_WRITE cluster:${CLUSTER_RESOURCE}`,
    "User:g WRITE topic:network-telemetry",
    "User:p DESCRIBE topic:network-telemetry",
    "User:p READ group:telemetry-detector",
    "User:p READ group:telemetry-sink",
    "User:p READ topic:network-telemetry",
    "User:s DESCRIBE topic:network-telemetry",
    "User:s READ group:telemetry-sink",
    "User:s READ topic:network-telemetry",
  ]);
  // The sink never writes, the generator never reads, no one touches another's group.
  const all = runAcls(input);
  assert.ok(!all.some((a) => a.principal === "User:s" && a.operation === "WRITE"));
  assert.ok(!all.some((a) => a.principal === "User:g" && a.operation === "READ"));
  assert.ok(!all.some((a) => a.principal === "User:s" && a.name === input.detectorGroup));
});

Deno.test("checkGrants() refuses any right beyond a run's", async (t) => {
  const base: AclGrant = {
    principal: "User:s",
    resource: "topic",
    name: input.topic,
    operation: "READ",
  };
  const bad: [string, AclGrant][] = [
    ["DELETE", { ...base, operation: "DELETE" as never }],
    ["ALTER_CONFIGS", { ...base, operation: "ALTER_CONFIGS" as never }],
    ["CREATE", { ...base, operation: "CREATE" as never }],
    ["a wildcard topic", { ...base, name: "*" }],
    ["another topic", { ...base, name: "other-run" }],
    ["a harness group", { ...base, resource: "group", name: "audit-1" }],
    ["WRITE on a group", { ...base, resource: "group", name: input.sinkGroup, operation: "WRITE" }],
    ["the cluster to read", { ...base, resource: "cluster", name: CLUSTER_RESOURCE }],
    ["IDEMPOTENT_WRITE on a topic", { ...base, operation: "IDEMPOTENT_WRITE" }],
    ["two principals in one", { ...base, principal: "User:s;User:chaos-harness" }],
    ["a wildcard principal", { ...base, principal: "User:*" }],
  ];
  for (const [what, grant] of bad) {
    await t.step(what, () => {
      assert.throws(() => checkGrants([grant], input), AclPlanError);
    });
  }
  await t.step("the run's own pass", () => checkGrants(runAcls(input), input));
});

Deno.test("kafkajsAcls() makes literal ALLOW entries for any host", () => {
  const [write, , cluster] = kafkajsAcls(runAcls(input));
  assert.equal(write.resourceType, AclResourceTypes.TOPIC);
  assert.equal(write.resourcePatternType, ResourcePatternTypes.LITERAL);
  assert.equal(write.operation, AclOperationTypes.WRITE);
  assert.equal(write.host, "*");
  assert.equal(cluster.resourceType, AclResourceTypes.CLUSTER);
  assert.equal(cluster.operation, AclOperationTypes.IDEMPOTENT_WRITE);
  assert.deepEqual([...GRANTED_OPERATIONS].sort(), [
    "DESCRIBE",
    "IDEMPOTENT_WRITE",
    "READ",
    "WRITE",
  ]);
});

Deno.test("stackRunAcls() grants nothing on a stack without users (docker, external)", () => {
  assert.equal(stackRunAcls(undefined, input), undefined);
  const users = makeKafkaUsers();
  const grants = stackRunAcls(users, input)!;
  assert.ok(grants.some((a) => a.principal === "User:chaos-sink"));
  assert.ok(!grants.some((a) => a.principal === "User:chaos-harness"), "the harness is super");
});

Deno.test("makeKafkaUsers() and scramFormatArgs(): a user per role, random passwords", () => {
  const a = makeKafkaUsers();
  const b = makeKafkaUsers();
  assert.deepEqual(Object.keys(a).sort(), [...KAFKA_ROLES].sort());
  const passwords = new Set([...Object.values(a), ...Object.values(b)].map((u) => u.password));
  assert.equal(passwords.size, 2 * KAFKA_ROLES.length, "every password differs");
  const args = scramFormatArgs(a);
  assert.equal(args.length, 2 * KAFKA_ROLES.length);
  assert.equal(args[0], "--add-scram");
  assert.equal(args[1], `SCRAM-SHA-512=[name=chaos-harness,password=${a.harness.password}]`);
  for (const password of ["a,b", "a]b", "a=b", 'a"b', ""]) {
    assert.throws(() => scramFormatArgs({ ...a, sink: { ...a.sink, password } }), ScramUserError);
  }
});

Deno.test("brokerConfig({ scram }) secures the CLIENT listener only; without it, PLAINTEXT", () => {
  const plan = portPlan(29000, 3);
  const c = brokerConfig(plan, 1, { logDir: "/d", scram: { superUser: "chaos-harness" } });
  assert.equal(
    c.get("listener.security.protocol.map"),
    "CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
  );
  assert.equal(c.get("sasl.enabled.mechanisms"), "SCRAM-SHA-512");
  assert.equal(
    c.get("authorizer.class.name"),
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
  );
  assert.equal(c.get("super.users"), "User:ANONYMOUS;User:chaos-harness");
  assert.equal(c.get("allow.everyone.if.no.acl.found"), "false");
  assert.match(c.get("listener.name.client.scram-sha-512.sasl.jaas.config")!, /ScramLoginModule/);
  const plain = brokerConfig(plan, 1, { logDir: "/d" });
  assert.equal(
    plain.get("listener.security.protocol.map"),
    "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
  );
  assert.equal(plain.has("authorizer.class.name"), false);
  assert.throws(() => brokerConfig(plan, 1, { logDir: "/d", scram: { superUser: "a;User:b" } }));
});

Deno.test("roleSecurity() hands each role its own user; a stack without users, the harness's", () => {
  const users = makeKafkaUsers();
  const stack = { kafkaUsers: users, endpoints: { kafka: { bootstrap: "127.0.0.1:1" } } };
  for (const role of KAFKA_ROLES) {
    assert.deepEqual(roleSecurity(stack, role).sasl?.username, `chaos-${role}`);
    assert.deepEqual(roleSecurity(stack, role).sasl?.password, users[role].password);
  }
  const bare = { endpoints: { kafka: { bootstrap: "127.0.0.1:1" } } };
  assert.deepEqual(roleSecurity(bare, "sink"), securityFor("127.0.0.1:1", {}));
  assert.deepEqual(roleSecurity(bare, "sink"), {});
});

// ------------------------------------------------------------------ real brokers

/** A kafkajs client of the stack as `user`, failing fast. */
function clientAs(bootstrap: string, user: KafkaUser): Kafka {
  return new Kafka({
    clientId: `acl-test-${user.username}`,
    brokers: bootstrap.split(","),
    sasl: { mechanism: "scram-sha-512", username: user.username, password: user.password },
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
  });
}

/** `fn`, again while a young cluster's group coordinator moves (NOT_COORDINATOR, 10 tries). */
async function coordinated<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0;; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= 9) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** A group's refusal: kafkajs reports FindCoordinator's GROUP_AUTHORIZATION_FAILED as no coordinator. */
const GROUP_REFUSED = /^GROUP_AUTHORIZATION_FAILED$|^Failed to find group coordinator$/;

/** The error `fn` fails with: its type (kafkajs's) or message; "ok" when it does not fail. */
async function refusal(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return "ok";
  } catch (error) {
    // kafkajs's protocol error, or one wrapping others (aggregate, per partition, retries).
    type Wrapped = {
      type?: string;
      apiId?: string;
      message?: string;
      errors?: Wrapped[];
      partitions?: { error?: Wrapped }[];
      originalError?: Wrapped;
      cause?: Wrapped;
    };
    // Breadth-first, each error once (kafkajs's may point back at themselves).
    const typeOf = (first: Wrapped): string | undefined => {
      const seen = new Set<Wrapped>();
      const queue: (Wrapped | undefined)[] = [first];
      while (queue.length) {
        const e = queue.shift();
        if (!e || seen.has(e)) continue;
        seen.add(e);
        if (e.type ?? e.apiId) return e.type ?? e.apiId; // kafkajs's, platformatic's
        queue.push(
          e.cause,
          e.originalError,
          ...(e.errors ?? []),
          ...(e.partitions ?? []).map((p) => p.error),
        );
      }
      return undefined;
    };
    return typeOf(error as Wrapped) ?? String((error as Error).message);
  }
}

Deno.test({
  name: "the local stack's ACLs: a sink may only consume, a generator only produce (real brokers)",
  ...slow,
  async fn() {
    const { stack, release } = await testStack();
    const users = stack.kafkaUsers;
    assert.ok(users, "the test stack has SCRAM users (a stack from before them? restart it)");
    const bootstrap = stack.endpoints.kafka.bootstrap;
    const suffix = crypto.randomUUID().slice(0, 8);
    const names = {
      topic: `acl-test-${suffix}`,
      sinkGroup: `acl-sink-${suffix}`,
      detectorGroup: `acl-detector-${suffix}`,
    };
    const harness = kafkaClient(bootstrap.split(","), "acl-test-harness", {
      logLevel: logLevel.NOTHING,
    }).admin();
    await harness.connect();
    const grants = stackRunAcls(users, names)!;
    const disconnect: (() => Promise<unknown>)[] = [];
    try {
      await harness.createTopics({
        topics: [{ topic: names.topic, numPartitions: 2, replicationFactor: 3 }],
        waitForLeaders: true,
      });
      await grantAcls(harness, grants);

      // The generator: produces idempotently; cannot read or delete.
      const generator = clientAs(bootstrap, users.generator);
      const producer = generator.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        retry: { retries: 3 },
      });
      await producer.connect();
      disconnect.push(() => producer.disconnect());
      await producer.send({
        topic: names.topic,
        acks: -1,
        messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
      });
      const gAdmin = generator.admin();
      await gAdmin.connect();
      disconnect.push(() => gAdmin.disconnect());
      assert.equal(
        await refusal(() => gAdmin.deleteTopics({ topics: [names.topic], timeout: 5000 })),
        "TOPIC_AUTHORIZATION_FAILED",
      );
      // Reading needs a group (kafkajs's consumers and fetchOffsets): none is the generator's.
      // (FindCoordinator answers GROUP_AUTHORIZATION_FAILED, which kafkajs reports as no coordinator;
      // the harness finds it for the same group.)
      await coordinated(() =>
        harness.fetchOffsets({ groupId: names.sinkGroup, topics: [names.topic] })
      );
      assert.match(
        await refusal(() =>
          gAdmin.fetchOffsets({ groupId: names.sinkGroup, topics: [names.topic] })
        ),
        GROUP_REFUSED,
      );

      // The sink: consumes the topic in its own group.
      const sink = clientAs(bootstrap, users.sink);
      const consumer = sink.consumer({ groupId: names.sinkGroup });
      await consumer.connect();
      disconnect.push(() => consumer.disconnect());
      await consumer.subscribe({ topic: names.topic, fromBeginning: true });
      let consumed = 0;
      const all = new Promise<void>((resolve) => {
        consumer.run({
          eachMessage: () => {
            if (++consumed === 20) resolve();
            return Promise.resolve();
          },
        });
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        all,
        new Promise((_, reject) =>
          timer = setTimeout(() => reject(new Error("no records")), 30_000)
        ),
      ]).finally(() => clearTimeout(timer));
      assert.equal(consumed, 20);
      await consumer.stop();

      // ...and nothing else.
      const sAdmin = sink.admin();
      await sAdmin.connect();
      disconnect.push(() => sAdmin.disconnect());
      const T = "TOPIC_AUTHORIZATION_FAILED";
      assert.equal(await refusal(() => sAdmin.deleteTopics({ topics: [names.topic] })), T);
      assert.equal(
        await refusal(() =>
          sAdmin.deleteTopicRecords({
            topic: names.topic,
            partitions: [{ partition: 0, offset: "5" }],
          })
        ),
        T,
      );
      assert.equal(
        await refusal(() =>
          sAdmin.alterConfigs({
            validateOnly: false,
            resources: [{
              type: 2,
              name: names.topic,
              configEntries: [{ name: "retention.ms", value: "1" }],
            }],
          })
        ),
        T,
      );
      assert.equal(
        await refusal(() =>
          sAdmin.createPartitions({ topicPartitions: [{ topic: names.topic, count: 4 }] })
        ),
        T,
      );
      assert.equal(
        await refusal(() => sAdmin.createTopics({ topics: [{ topic: `${names.topic}-x` }] })),
        T,
      );
      assert.equal(
        await refusal(() =>
          sAdmin.createAcls({
            acl: kafkajsAcls([{ ...grants[0], principal: `User:${users.sink.username}` }]),
          })
        ),
        "CLUSTER_AUTHORIZATION_FAILED",
      );
      // The harness's groups (the audit's, the detector's) are not the sink's to move.
      for (const groupId of [`audit-${suffix}`, names.detectorGroup]) {
        await coordinated(() => harness.fetchOffsets({ groupId, topics: [names.topic] }));
        assert.match(
          await refusal(() =>
            sAdmin.setOffsets({
              groupId,
              topic: names.topic,
              partitions: [{ partition: 0, offset: "0" }],
            })
          ),
          GROUP_REFUSED,
          groupId,
        );
      }
      const sProducer = sink.producer({ idempotent: false });
      await sProducer.connect();
      disconnect.push(() => sProducer.disconnect());
      assert.equal(
        await refusal(() =>
          sProducer.send({ topic: names.topic, messages: [{ value: "forged" }] })
        ),
        T,
      );
      // IncrementalAlterConfigs (kafkajs has none): through platformatic's admin.
      const pAdmin = new PlatformaticAdmin({
        clientId: "acl-test-sink-incremental",
        bootstrapBrokers: bootstrap.split(","),
        retries: 0,
        sasl: { mechanism: "SCRAM-SHA-512", ...users.sink },
      });
      disconnect.push(() => pAdmin.close());
      const incremental = await refusal(() =>
        pAdmin.incrementalAlterConfigs({
          resources: [{
            resourceType: 2,
            resourceName: names.topic,
            configs: [{ name: "retention.ms", configOperation: 0, value: "1" }],
          }],
        })
      );
      assert.match(incremental, /TOPIC_AUTHORIZATION_FAILED|authoriz/i, incremental);

      // A wrong password: no session at all.
      const wrong = clientAs(bootstrap, { ...users.sink, password: `${users.sink.password}x` });
      const wAdmin = wrong.admin();
      const denied = await refusal(() => wAdmin.connect().then(() => wAdmin.listTopics()));
      assert.match(denied, /SASL|authentication/i, denied);
      await wAdmin.disconnect().catch(() => {});

      // Every record is still there (nothing deleted, nothing forged).
      const offsets = await harness.fetchTopicOffsets(names.topic);
      const total = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      assert.equal(total, 20);
    } finally {
      for (const close of disconnect.reverse()) await close().catch(() => {});
      const deleted = await revokeAcls(harness, grants).catch(() => -1);
      await harness.deleteTopics({ topics: [names.topic] }).catch(() => {});
      await harness.disconnect();
      await release();
      assert.equal(deleted, grants.length, "every grant revoked");
    }
  },
});

Deno.test("securityFor(): a stack's user for its addresses, the environment's elsewhere", () => {
  const users = makeKafkaUsers();
  const mine = ["127.0.0.1:1", "127.0.0.1:2"];
  const env = { KAFKA_SASL_MECHANISM: "PLAIN", KAFKA_SASL_USERNAME: "e", KAFKA_SASL_PASSWORD: "p" };
  useSecurityFor(mine, { sasl: { mechanism: "SCRAM-SHA-512", ...users.harness } });
  try {
    assert.equal(securityFor("127.0.0.1:2, 10.0.0.1:9092", env).sasl?.username, "chaos-harness");
    assert.equal(securityFor(["10.0.0.1:9092"], env).sasl?.username, "e");
    assert.deepEqual(securityFor("10.0.0.1:9092", {}), {});
  } finally {
    forgetSecurityFor(mine);
  }
  assert.equal(securityFor("127.0.0.1:1", env).sasl?.username, "e", "forgotten with its stack");
});
