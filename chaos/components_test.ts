import assert from "node:assert/strict";
import type { Stack } from "../compose/stack.ts";
import { components, contractEndpoints, contractEnv, sandboxListens } from "./components.ts";
import { Sandbox } from "../compose/sandbox.ts";
import { uncappedArgv } from "../compose/log_cap.ts";
import { componentOptions, DETECTOR_ONLY, fakeStack } from "./_component_fixtures.ts";

const root = {
  endpoint: "http://127.0.0.1:29010",
  accessKey: "chaosroot",
  secretKey: "root-secret",
  bucket: "telemetry",
};
const options = componentOptions(fakeStack({ s3: root }));
const scenario = DETECTOR_ONLY;

Deno.test("contractEnv() gives the pipeline its own S3 keys, and the stack's bucket", () => {
  const env = contractEnv(scenario, {
    ...options,
    s3Keys: { accessKey: "pipelineabc", secretKey: "pipeline-secret" },
  });
  assert.equal(env.S3_ACCESS_KEY, "pipelineabc");
  assert.equal(env.S3_SECRET_KEY, "pipeline-secret");
  assert.equal(env.S3_BUCKET, "telemetry");
  assert.equal(env.S3_ENDPOINT, root.endpoint);
  assert.ok(!Object.values(env).includes(root.secretKey), "the root secret reaches the pipeline");
});

Deno.test("contractEnv() without keys of the pipeline's own: the stack's (an external stack)", () => {
  const env = contractEnv(scenario, options);
  assert.equal(env.S3_ACCESS_KEY, root.accessKey);
  assert.equal(env.S3_SECRET_KEY, root.secretKey);
});

Deno.test("components() gives the sink, the detector and a combined pipeline a cgroup each", () => {
  const stack = { ...options.stack, plan: { metrics: 29050 }, dataDir: "/tmp/x/stack" } as Stack;
  const nodes = components(scenario, { ...options, stack, runId: "20261205T000000Z" });
  assert.equal(nodes.get("sink")!.spec.cgroup, "chaos-20261205T000000Z/sink");
  assert.equal(nodes.get("detector")!.spec.cgroup, "chaos-20261205T000000Z/detector");
  const combined = components(scenario, { ...options, stack, own: { combined: "./start.sh" } });
  assert.equal(combined.get("sink"), combined.get("detector"), "one node behind both names");
  assert.equal(combined.get("sink")!.spec.cgroup, "chaos-x/pipeline", "run id from the run folder");
});

Deno.test("components() runs a graded pipeline's own commands in its sandbox, the built-in ones not", () => {
  const stack = { ...options.stack, plan: { metrics: 29050 }, dataDir: "/tmp/x/stack" } as Stack;
  const plan = { hide: [], binds: [], stage: "/b/61234/stage", cwd: "/srv/team", uid: 61234 };
  const sandbox = new Sandbox(61234, "/b/61234", plan, "/opt/deno:/usr/bin", "/opt/deno-dir");
  const nodes = components(scenario, {
    ...options,
    stack,
    own: { sink: "python3 sink.py", cwd: "/srv/team", sandbox },
  });
  const sink = nodes.get("sink")!.spec;
  // Behind the harness's log cap (compose/log_cap.ts), outside the box.
  const boxed = uncappedArgv([sink.cmd, ...sink.args]);
  assert.equal(sink.cmd, "bash");
  assert.equal(boxed[0], "unshare");
  assert.deepEqual(sink.args.slice(-3), ["bash", "-c", "exec python3 sink.py"]);
  assert.match(sink.args.join(" "), /setpriv --reuid 61234/);
  assert.equal(sink.cwd, "/srv/team");
  assert.equal(sink.env!.HOME, "/b/61234/home");
  assert.equal(sink.env!.KAFKA_BROKERS, "127.0.0.1:29111");
  assert.equal(sink.cgroup, "chaos-x/sink", "the sandbox runs inside the component's cgroup");
  // No own detector: the harness's own, unsandboxed.
  assert.equal(nodes.get("detector")!.spec.cmd, Deno.execPath());
  assert.deepEqual(contractEndpoints(contractEnv(scenario, { ...options, stack })), [
    "127.0.0.1:29111",
    "http://127.0.0.1:29010",
    "redis://127.0.0.1:29020",
    "http://127.0.0.1:1/alerts",
  ]);
});

Deno.test("sandboxListens(): a component's box binds its METRICS_PORT, a combined pipeline's the two kept for them, never any", () => {
  const box = (uid: number) => ({ uid }) as unknown as Sandbox;
  const [sinkBox, detectorBox, both] = [box(61001), box(61002), box(61003)];
  const node = (port?: number): { spec: { env: Record<string, string> } } => ({
    spec: { env: port ? { METRICS_PORT: String(port) } : {} },
  });
  const reserved = { sink: 29901, detector: 29902 };
  const apart = sandboxListens(
    new Map([["sink", node(29901)], ["detector", node()]]),
    { sink: "s", detector: "d", sandboxes: { sink: sinkBox, detector: detectorBox } },
    reserved,
  );
  assert.deepEqual(apart.get(sinkBox), [29901]);
  assert.deepEqual(apart.get(detectorBox), []);
  const combined = sandboxListens(
    new Map([["sink", node()], ["detector", node()]]),
    { combined: "start", sandbox: both },
    reserved,
  );
  assert.deepEqual(combined.get(both), [29901, 29902]);
});
