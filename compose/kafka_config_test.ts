import assert from "node:assert/strict";
import { brokerConfig, brokerProperties } from "./kafka_config.ts";
import { portPlan } from "./ports.ts";
import { clusterId } from "./stack.ts";

Deno.test("brokerConfig() makes a 3-voter KRaft quorum reached through the proxies", () => {
  const plan = portPlan(29000, 3);
  const c = brokerConfig(plan, 2, { logDir: "/d" });
  assert.deepEqual(c.get("process.roles"), "broker,controller");
  assert.deepEqual(c.get("node.id"), "2");
  // Broker 2 reaches every voter through proxies of its own (2->1, 2->2, 2->3).
  assert.deepEqual(
    c.get("controller.quorum.voters"),
    "1@127.0.0.1:29221,2@127.0.0.1:29222,3@127.0.0.1:29223",
  );
  assert.match(c.get("listeners")!, /CLIENT:\/\/127\.0\.0\.1:29120,/);
  assert.match(c.get("advertised.listeners")!, /CLIENT:\/\/127\.0\.0\.1:29121,/);
});

Deno.test("brokerConfig({ direct }) advertises the real ports, past every proxy", () => {
  const plan = portPlan(29000, 3);
  const c = brokerConfig(plan, 2, { logDir: "/d", direct: true });
  assert.deepEqual(
    c.get("controller.quorum.voters"),
    "1@127.0.0.1:29114,2@127.0.0.1:29124,3@127.0.0.1:29134",
  );
  assert.deepEqual(
    c.get("advertised.listeners"),
    "CLIENT://127.0.0.1:29120,INTERNAL://127.0.0.1:29122,CONTROLLER://127.0.0.1:29124",
  );
  assert.deepEqual(c.get("listeners"), brokerConfig(plan, 2, { logDir: "/d" }).get("listeners"));
});

Deno.test("brokerConfig() defaults are safe and overridable for unsafe set-ups", async (t) => {
  const plan = portPlan(29000, 3);
  await t.step("defaults", () => {
    const c = brokerConfig(plan, 1, { logDir: "/d" });
    assert.deepEqual(c.get("default.replication.factor"), "3");
    assert.deepEqual(c.get("min.insync.replicas"), "2");
    assert.deepEqual(c.get("unclean.leader.election.enable"), "false");
    assert.deepEqual(c.get("offsets.topic.replication.factor"), "3");
    assert.deepEqual(c.get("transaction.state.log.min.isr"), "2");
  });
  await t.step("unsafe on purpose", () => {
    const c = brokerConfig(plan, 1, {
      logDir: "/d",
      minInsyncReplicas: 1,
      uncleanLeaderElection: true,
      overrides: { "replica.lag.time.max.ms": 5000 },
    });
    assert.deepEqual(c.get("min.insync.replicas"), "1");
    assert.deepEqual(c.get("unclean.leader.election.enable"), "true");
    assert.deepEqual(c.get("replica.lag.time.max.ms"), "5000");
  });
  await t.step("a one-broker stack caps replication at 1", () => {
    const c = brokerConfig(portPlan(29000, 1), 1, { logDir: "/d" });
    assert.deepEqual(c.get("default.replication.factor"), "1");
    assert.deepEqual(c.get("min.insync.replicas"), "1");
  });
});

Deno.test("brokerProperties() renders key=value lines", () => {
  const text = brokerProperties(portPlan(29000, 3), 1, { logDir: "/d" });
  assert.match(text, /^process\.roles=broker,controller\n/);
  assert.match(text, /\nlog\.dirs=\/d\n/);
});

Deno.test("clusterId() never starts with a dash (StorageTool would read it as a flag)", () => {
  for (let i = 0; i < 5000; i++) {
    const id = clusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  }
});
