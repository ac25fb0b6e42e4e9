import assert from "node:assert/strict";
import { endpointLines } from "./cli_up.ts";
import { portPlan } from "./ports.ts";
import { KAFKA_PROXY_NODE } from "./kafka_proxy_control.ts";
import type { Stack } from "./stack.ts";

const plan = portPlan(29000, 3);
const endpoints = {
  kafka: { bootstrap: "127.0.0.1:29116" },
  s3: { endpoint: "http://127.0.0.1:29010", bucket: "b", accessKey: "a", secretKey: "s" },
  redis: { url: "redis://127.0.0.1:29020" },
  toxiproxy: { api: "http://127.0.0.1:29030" },
} as Stack["endpoints"];

Deno.test("up prints the S3 proxy's address beside MinIO's, and the kafka proxy's control", () => {
  const lines = endpointLines({
    endpoints,
    plan,
    dataDir: "/d",
    nodes: new Map([[KAFKA_PROXY_NODE, {}]]) as unknown as Stack["nodes"],
    s3Proxy: { endpoint: "http://127.0.0.1:29012", control: "http://127.0.0.1:29013" },
  });
  const s3 = lines.findIndex((l) => l.startsWith("s3 "));
  assert.match(lines[s3], /^s3 +http:\/\/127\.0\.0\.1:29010 bucket=b/);
  assert.match(lines[s3 + 1], /^s3proxy +http:\/\/127\.0\.0\.1:29012 .*S3_ENDPOINT.*29013/);
  assert.ok(lines.some((l) => /^kafkaproxy control http:\/\/127\.0\.0\.1:29106/.test(l)));
  // Without the proxies (CHAOS_S3_PROXY=off, no kafka_error): MinIO only.
  const bare = endpointLines({ endpoints, plan, dataDir: "/d", nodes: new Map() });
  assert.equal(bare.some((l) => /^(s3|kafka)proxy/.test(l)), false);
  assert.equal(bare.at(-1), "logs       /d/logs");
});
