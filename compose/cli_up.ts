/**
 * `deno task up [--json] [--name N] [--base-port P] [--brokers 3] [--disk-mb MB] [--stack local|docker]`
 *
 * Starts a stack and leaves it running (stop it with `deno task down`): the
 * local stack, or with `--stack docker` the docker stack (its state file lets
 * `deno task fault` and `down` find it again). If a stack of that name already runs, starts nothing and prints its
 * endpoints. With `--json`, stdout is exactly one JSON object (see
 * `endpoints.ts`) with `nodes`, how each node can be acted on: the same file
 * `--stack external --endpoints` reads (external_endpoints.ts). Progress always goes to stderr. `--disk-mb` puts each broker's
 * log dir and MinIO's data on a disk of that size (root; for `fault inject disk_full`).
 * @module
 */

import { join } from "node:path";
import { ExitCode, InterruptedError, runMain, UsageError } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { LocalStack } from "./local_stack.ts";
import { DockerStack } from "./docker_stack.ts";
import { stackKindOf } from "./attach.ts";
import { stateDir } from "./paths.ts";
import { unmountUnder } from "./disk.ts";
import { brokerIdOf, quorumProxy, type Stack } from "./stack.ts";
import { type ExternalNode, NODE_NAME } from "./external_endpoints.ts";
import { say } from "../lib/progress.ts";
import { kafkaProxyControlUrl, runsKafkaProxy } from "./kafka_proxy_control.ts";

const USAGE =
  "usage: deno task up [--json] [--name NAME] [--base-port PORT] [--brokers N] [--disk-mb MB] [--stack local|docker]";

/**
 * How each node of a stack `up` started can be acted on from outside: its container and engine
 * (docker stack), and a broker's Toxiproxy proxies (both stacks).
 */
/**
 * The stack's endpoints, one line each, as `up` prints them: the S3 proxy (the pipeline's way to
 * MinIO, where `s3_fault` acts) beside MinIO's own address, and the kafka proxy's control API
 * when the stack runs it.
 */
export function endpointLines(
  stack: Pick<Stack, "endpoints" | "s3Proxy" | "dataDir" | "plan" | "nodes">,
): string[] {
  const e = stack.endpoints;
  return [
    `kafka      ${e.kafka.bootstrap}` +
    (e.kafka.sasl
      ? ` (${e.kafka.sasl.mechanism} user ${e.kafka.sasl.username}: deno task up --json)`
      : ""),
    ...(runsKafkaProxy(stack)
      ? [`kafkaproxy control ${kafkaProxyControlUrl(stack.plan)} (each component its own ports)`]
      : []),
    `s3         ${e.s3.endpoint} bucket=${e.s3.bucket} (keys: deno task up --json)`,
    ...(stack.s3Proxy
      ? [
        `s3proxy    ${stack.s3Proxy.endpoint} (the pipeline's S3_ENDPOINT; control ${stack.s3Proxy.control})`,
      ]
      : []),
    `redis      ${e.redis.url}`,
    `toxiproxy  ${e.toxiproxy.api}`,
    `logs       ${stack.dataDir}/logs`,
  ];
}

export function nodesOf(stack: Stack): Record<string, ExternalNode> {
  const nodes: Record<string, ExternalNode> = {};
  for (const name of stack.nodes.keys()) {
    // The S3 and Kafka proxies are the harness's own plumbing, not services of a cluster.
    if (!NODE_NAME.test(name)) continue;
    const node: ExternalNode = {};
    if (stack instanceof DockerStack) {
      node.container = stack.containerName(name);
      const host = Deno.env.get("DOCKER_HOST");
      if (host) node.docker_host = host;
    }
    if (name.startsWith("kafka-")) {
      const id = brokerIdOf(name);
      const others = stack.brokerIds().filter((o) => o !== id);
      node.proxies = {
        ...stack.brokerProxies(id),
        quorum: Object.fromEntries(others.map((o) => [String(o), quorumProxy(id, o)])),
      };
    }
    nodes[name] = node;
  }
  return nodes;
}

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      json: { type: "boolean", default: false },
      name: { type: "string", default: "default" },
      "base-port": { type: "string" },
      brokers: { type: "string" },
      "disk-mb": { type: "string" },
      stack: { type: "string", default: "local" },
    }, USAGE);
    if (values.stack !== "local" && values.stack !== "docker") {
      throw new UsageError(`--stack must be local or docker, got "${values.stack}"`);
    }
    const other = await stackKindOf(values.name);
    if (other && other !== values.stack) {
      throw new UsageError(
        `a ${other} stack named "${values.name}" is running: stop it first (deno task down ` +
          `--name ${values.name}) or choose another --name`,
      );
    }
    const abort = new AbortController();
    const onSignal = () => abort.abort(new InterruptedError("SIGINT"));
    Deno.addSignalListener("SIGINT", onSignal);
    const options = {
      name: values.name,
      basePort: intFlag("base-port", values["base-port"], { min: 1024, max: 65335 }),
      brokers: intFlag("brokers", values.brokers, { min: 1, max: 9 }),
      diskMb: intFlag("disk-mb", values["disk-mb"], { min: 16, max: 1_048_576 }),
      owner: "detached" as const,
      signal: abort.signal,
    };
    let stack: Stack;
    let reused = false;
    try {
      if (values.stack === "docker") {
        let running = await DockerStack.attach(values.name);
        if (running && [...running.nodes.values()].some((n) => n.state() === "dead")) {
          await running.down({ quiet: true }); // stale: some container died or is gone
          running = undefined;
        }
        reused = running !== undefined;
        const dataDir = join(stateDir(), "stacks", values.name, "data");
        if (!running) {
          await unmountUnder(dataDir);
          await Deno.remove(dataDir, { recursive: true }).catch(() => {});
        }
        stack = running ?? await DockerStack.up({ ...options, dataDir });
        if (!reused) await (stack as DockerStack).persist();
      } else {
        stack = await LocalStack.up(options);
        reused = (stack as LocalStack).reused;
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
    }
    await stack.detach();
    if (values.json) {
      console.log(JSON.stringify({ ...stack.endpoints, nodes: nodesOf(stack) }));
    } else {
      say(
        reused
          ? `${stack.kind} stack "${stack.name}" is already running:`
          : `${stack.kind} stack "${stack.name}" is up:`,
      );
      for (const line of endpointLines(stack)) console.log(line);
    }
    return ExitCode.Pass;
  });
}
