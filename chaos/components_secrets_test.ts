/**
 * No secret of the stack's on a component's command line (every user of the host reads every
 * process's in `ps`): the sink's and the detector's credentials (Redis URL, S3 keys, SASL, the
 * webhook's HMAC secret) reach them in their environment only, built-in, graded or boxed. (The
 * stack's own processes: compose/local_stack_secrets_test.ts.)
 */

import assert from "node:assert/strict";
import type { Stack } from "../compose/stack.ts";
import { makeKafkaUsers } from "../compose/kafka_scram.ts";
import { Sandbox } from "../compose/sandbox.ts";
import { components } from "./components.ts";
import { componentOptions, DETECTOR_ONLY, fakeStack } from "./_component_fixtures.ts";

const kafkaUsers = makeKafkaUsers();
const stack = fakeStack({
  s3: {
    endpoint: "http://127.0.0.1:29010",
    accessKey: "a",
    secretKey: "s3-root-secret",
    bucket: "b",
  },
  redis: { url: "redis://default:redis-harness-pw@127.0.0.1:29020" },
}, {
  kafkaUsers,
  redisPipelineUrl: "redis://chaos-pipeline:redis-pipeline-pw@127.0.0.1:29020",
  plan: { metrics: 29050 },
  dataDir: "/tmp/x/stack",
}) as Stack;
const options = {
  ...componentOptions(stack),
  secret: "hmac-secret-0123",
  s3Keys: { accessKey: "pipelinekey", secretKey: "s3-pipeline-secret" },
};
const SECRETS = [
  "redis-harness-pw",
  "redis-pipeline-pw",
  "s3-root-secret",
  "s3-pipeline-secret",
  "hmac-secret-0123",
  ...Object.values(kafkaUsers).map((u) => u.password),
];

function argvSecrets(argv: readonly string[]): string[] {
  const line = argv.join(" ");
  return SECRETS.filter((s) => line.includes(s));
}

Deno.test("components(): no secret on the sink's or the detector's command line", () => {
  const plan = { hide: [], binds: [], stage: "/b/61234/stage", cwd: "/srv/team", uid: 61234 };
  const sandbox = new Sandbox(61234, "/b/61234", plan, "/opt/deno:/usr/bin", "/opt/deno-dir");
  const variants = {
    "built-in": components(DETECTOR_ONLY, options),
    "graded, boxed": components(DETECTOR_ONLY, {
      ...options,
      own: { sink: "python3 sink.py", detector: "node detector.js", cwd: "/srv/team", sandbox },
    }),
    "combined": components(DETECTOR_ONLY, { ...options, own: { combined: "./start.sh" } }),
  };
  for (const [variant, nodes] of Object.entries(variants)) {
    for (const [name, node] of nodes) {
      const { cmd, args, env } = node.spec;
      assert.deepEqual(argvSecrets([cmd, ...args]), [], `${variant} ${name}: ${args.join(" ")}`);
      // What it needs is in its environment (readable by its own user and root only).
      assert.equal(env?.REDIS_URL, "redis://chaos-pipeline:redis-pipeline-pw@127.0.0.1:29020");
      assert.equal(env?.S3_SECRET_KEY, "s3-pipeline-secret");
      assert.equal(env?.WEBHOOK_SECRET, "hmac-secret-0123");
    }
  }
  // The checker can fail: the detector's old `--redis URL` would be caught.
  assert.deepEqual(argvSecrets(["deno", "--redis", stack.redisPipelineUrl!]), [
    "redis-pipeline-pw",
  ]);
});
