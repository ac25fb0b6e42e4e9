/**
 * What an external stack's endpoints file allows, decided before a run
 * (`externalProblems`), the file's own validation, and the stack flags.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ExternalNode,
  parseExternalEndpoints,
  securityOf,
} from "../compose/external_endpoints.ts";
import { UsageError } from "../lib/exit_codes.ts";
import { type ExternalCluster, externalProblems } from "./faults/mod.ts";
import { stackChoice } from "./stack_flags.ts";

const proxies = (id: number, peers: number[]) => ({
  client: `kafka-${id}-client`,
  internal: `kafka-${id}-internal`,
  controller: `kafka-${id}-controller`,
  quorum: Object.fromEntries(peers.map((p) => [String(p), `kafka-${id}-to-${p}-controller`])),
});

const full: ExternalCluster = {
  brokers: [1, 2, 3],
  toxiproxy: true,
  nodes: {
    "kafka-1": { container: "k1", proxies: proxies(1, [2, 3]) },
    "kafka-2": { container: "k2", proxies: proxies(2, [1, 3]) },
    "kafka-3": { container: "k3", proxies: proxies(3, [1, 2]) },
    minio: { container: "m" },
    redis: { container: "r" },
  },
};

type Mutable = { nodes: Record<string, ExternalNode>; toxiproxy: boolean };

const without = (mutate: (c: Mutable) => void): ExternalCluster => {
  const c = structuredClone(full) as ExternalCluster & Mutable;
  mutate(c);
  return c;
};

Deno.test("externalProblems: a file that names everything allows the external faults", () => {
  const faults = [
    { kind: "kill", target: "broker:leader(network-telemetry,0)" },
    { kind: "pause", target: "redis" },
    { kind: "cpu", target: "broker:2", params: { cores: 0.2 } },
    { kind: "latency", target: "all-brokers", params: { latency_ms: 100 } },
    { kind: "partition", target: "broker:1" },
    { kind: "webhook_fail", target: "webhook" },
    { kind: "loss", target: "broker:3", params: { loss_pct: 5 } },
    { kind: "kill", target: "sink" },
  ];
  assert.deepEqual(externalProblems(faults, full), []);
});

Deno.test("externalProblems: a missing container, for any broker a target may resolve to", () => {
  const c = without((c) => delete (c.nodes["kafka-3"] as { container?: string }).container);
  assert.deepEqual(externalProblems([{ kind: "kill", target: "broker:random" }], c), [
    "faults.0 (kill on broker:random): nodes.kafka-3.container is missing (the Docker container it runs in)",
  ]);
  // tc and iptables run from a helper in the container's namespace: the container is needed.
  assert.match(
    externalProblems([{ kind: "tbf", target: "broker:3", params: { rate_kbps: 8 } }], c)[0],
    /faults\.0 \(tbf on broker:3\): nodes\.kafka-3\.container is missing/,
  );
  // Aimed at another broker, or at the harness's own component: nothing missing.
  assert.deepEqual(externalProblems([{ kind: "kill", target: "broker:1" }], c), []);
  assert.deepEqual(externalProblems([{ kind: "stop", target: "detector" }], c), []);
  const noMinio = without((c) => delete c.nodes.minio);
  assert.match(
    externalProblems([{ kind: "pause", target: "minio" }], noMinio)[0],
    /nodes\.minio\.container is missing/,
  );
});

Deno.test("externalProblems: proxies by listener, quorum links both ways for a partition", () => {
  const noInternal = without((c) => delete c.nodes["kafka-2"].proxies!.internal);
  assert.deepEqual(
    externalProblems(
      [{ kind: "latency", target: "broker:2", params: { latency_ms: 5 } }],
      noInternal,
    ),
    ["faults.0 (latency on broker:2): nodes.kafka-2.proxies.internal is missing"],
  );
  // The client listener alone does not need it.
  assert.deepEqual(
    externalProblems([{
      kind: "latency",
      target: "broker:2",
      params: { latency_ms: 5, listeners: ["client"] },
    }], noInternal),
    [],
  );
  const noQuorum = without((c) => delete c.nodes["kafka-3"].proxies!.quorum!["1"]);
  assert.deepEqual(externalProblems([{ kind: "partition", target: "broker:1" }], noQuorum), [
    "faults.0 (partition on broker:1): nodes.kafka-3.proxies.quorum.1 is missing",
  ]);
  const noToxiproxy = without((c) => c.toxiproxy = false);
  assert.match(
    externalProblems([{ kind: "reset", target: "broker:1" }], noToxiproxy)[0],
    /toxiproxy\.api is missing/,
  );
});

Deno.test("externalProblems: what only a stack of the harness's own can do is refused", () => {
  const problems = externalProblems([
    { kind: "disk_full", target: "broker:1" },
    { kind: "memory", target: "broker:1", params: { limit_mb: 64 } },
    { kind: "disconnect", target: "broker:1" },
    { kind: "partition", target: "link:1-2" },
  ], full);
  assert.equal(problems.length, 4);
  assert.match(
    problems[0],
    /^faults\.0 \(disk_full on broker:1\): disk_full cannot act on an external stack/,
  );
  assert.match(problems[2], /disconnect cannot act on an external stack \(it needs .*docker/);
  assert.match(problems[3], /one link between two brokers can only be cut on --stack docker/);
});

const good = {
  kafka: { bootstrap: "10.0.0.5:9092,10.0.0.6:9092" },
  s3: { endpoint: "http://10.0.0.7:9000", accessKey: "a", secretKey: "s", bucket: "telemetry" },
  redis: { url: "redis://10.0.0.8:6379" },
};

Deno.test("endpoints file: nodes are optional; every problem is named by its key", () => {
  assert.deepEqual(parseExternalEndpoints(good, "ep.json").nodes, {});
  assert.throws(
    () =>
      parseExternalEndpoints({
        ...good,
        kafka: { bootstrap: "no-port" },
        s3: { ...good.s3, endpoint: "not a url" },
        nodes: {
          "broker-1": {},
          "kafka-1": { container: "k1", docker_host: "ssh://h", proxies: { quorum: { x: "p" } } },
        },
        extra: 1,
      }, "ep.json"),
    (e: Error) => {
      assert.ok(e instanceof UsageError);
      for (
        const key of [
          "kafka.bootstrap",
          "s3.endpoint",
          "nodes.broker-1",
          "nodes.kafka-1.docker_host",
          "nodes.kafka-1.proxies.quorum.x",
          "(root): Unrecognized key",
        ]
      ) assert.ok(e.message.includes(key), `${key} in ${e.message}`);
      return true;
    },
  );
  assert.throws(
    () => parseExternalEndpoints({ ...good, s3: { ...good.s3, tls: { ca: "x" } } }, "ep.json"),
    /s3\.tls: an https:\/\/ endpoint is TLS already/,
  );
});

Deno.test("endpoints file: kafka.sasl and kafka.tls, the password from the file or the env", () => {
  const sasl = { mechanism: "SCRAM-SHA-512", username: "u", password: "p" };
  const e = parseExternalEndpoints({
    ...good,
    kafka: { ...good.kafka, sasl, tls: { ca_file: "/ca.pem" } },
  }, "ep.json");
  assert.deepEqual(securityOf(e), { sasl, tls: { caFile: "/ca.pem" } });
  assert.throws(
    () =>
      parseExternalEndpoints({
        ...good,
        kafka: { ...good.kafka, sasl: { mechanism: "GSSAPI", username: "u" }, tls: "yes" },
      }, "ep.json"),
    (err: Error) => /kafka\.sasl\.mechanism/.test(err.message) && /kafka\.tls/.test(err.message),
  );
  const had = Deno.env.get("KAFKA_SASL_PASSWORD");
  Deno.env.delete("KAFKA_SASL_PASSWORD");
  try {
    const noPassword = {
      ...good,
      kafka: { ...good.kafka, sasl: { mechanism: "PLAIN", username: "u" } },
    };
    assert.throws(
      () => parseExternalEndpoints(noPassword, "ep.json"),
      /KAFKA_SASL_PASSWORD is not set/,
    );
    Deno.env.set("KAFKA_SASL_PASSWORD", "from-env");
    assert.equal(
      securityOf(parseExternalEndpoints(noPassword, "ep.json")).sasl?.password,
      "from-env",
    );
  } finally {
    if (had === undefined) Deno.env.delete("KAFKA_SASL_PASSWORD");
    else Deno.env.set("KAFKA_SASL_PASSWORD", had);
  }
});

Deno.test("stack flags: external needs an endpoints file, the others refuse one", async () => {
  await assert.rejects(
    stackChoice({ stack: "cloud", "keep-topic": false }),
    /--stack must be local, docker, external/,
  );
  await assert.rejects(
    stackChoice({ stack: "external", "keep-topic": false }),
    /--stack external needs --endpoints/,
  );
  await assert.rejects(
    stackChoice({ stack: "local", endpoints: "x.json", "keep-topic": false }),
    /--endpoints and --keep-topic are for --stack external/,
  );
  await assert.rejects(
    stackChoice({ stack: "external", endpoints: "/nonexistent/ep.json", "keep-topic": false }),
    UsageError,
  );
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "ep.json");
    await Deno.writeTextFile(file, "{not json");
    await assert.rejects(
      stackChoice({ stack: "external", endpoints: file, "keep-topic": false }),
      /not JSON/,
    );
    await Deno.writeTextFile(file, JSON.stringify(good));
    const choice = await stackChoice({ stack: "external", endpoints: file, "keep-topic": true });
    assert.equal(choice.kind, "external");
    assert.equal(choice.external?.keepTopic, true);
    assert.equal(choice.external?.endpoints.kafka.bootstrap, good.kafka.bootstrap);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
