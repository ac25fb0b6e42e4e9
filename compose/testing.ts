/**
 * Helpers for tests that need the real stack.
 *
 * `testStack()` attaches to the stack named by `CHAOS_TEST_STACK` when set
 * (`.ci/run` starts one and every test file shares it), or starts a stack of
 * its own on `CHAOS_TEST_BASE_PORT` (default 30000). `release()` heals what a
 * test may have broken (paused or dead nodes, proxies, toxics) so the next test
 * starts from a known good state; it stops the stack only if it started it.
 *
 * Slow tests (those that need the stack) are skipped when `CHAOS_SKIP_SLOW=1`
 * (`deno task test:quick`); `deno task test` runs them all.
 *
 * ```ts
 * import { slow, testStack } from "./testing.ts";
 * Deno.test({ name: "broker restarts", ...slow }, async () => {
 *   const { stack, release } = await testStack();
 *   try { ... } finally { await release(); }
 * });
 * ```
 * @module
 */

import type { DockerStack } from "./docker_stack.ts";
import { dockerClient } from "./docker.ts";
import { LocalStack } from "./local_stack.ts";
import type { Stack } from "./stack.ts";
import { kafkaBrokerIds } from "./probes.ts";
import { waitFor } from "../lib/wait.ts";
import { type Admin, logLevel } from "kafkajs";
import { kafkaClient } from "../pipeline/kafka.ts";

/** Spread into a `Deno.test` definition for tests that need the real stack. */
export const slow = {
  ignore: Deno.env.get("CHAOS_SKIP_SLOW") === "1",
  sanitizeOps: false,
  sanitizeResources: false,
} as const;

export interface TestStack {
  stack: LocalStack;
  release(): Promise<void>;
}

/**
 * Brings every node of `stack` back: resumed, started, proxies enabled, toxics removed (on the
 * docker stack also: reconnected, iptables rules and qdiscs removed), healthy.
 */
export async function heal(stack: Stack): Promise<void> {
  if (stack.kind === "docker") await clearNetworkFaults(stack as DockerStack);
  await stack.health(); // the docker stack's node states are read from the engine
  for (const node of stack.nodes.values()) {
    if (node.state() === "paused") await node.resume();
    if (node.state() === "dead") await node.start();
  }
  await waitFor(() => stack.nodeReady("toxiproxy"), { what: "toxiproxy", timeoutMs: 30_000 });
  await stack.toxiproxy.reset();
  const want = stack.brokerIds().length;
  await waitFor(async () => {
    const ids = await kafkaBrokerIds(stack.endpoints.kafka.bootstrap.split(","));
    return ids.length === want;
  }, { what: `${want} brokers in the metadata`, timeoutMs: 90_000, intervalMs: 500 });
  await waitFor(() => stack.nodeReady("minio"), { what: "minio", timeoutMs: 30_000 });
  await waitFor(() => stack.nodeReady("redis"), { what: "redis", timeoutMs: 30_000 });
}

/**
 * Waits until a topic just created can take a send that does not retry: every broker of
 * `bootstrap` (asked one at a time) names the same leader for every partition, and every
 * leader answers as one (a ListOffsets, which a leader that has not applied the new topic
 * refuses with NOT_LEADER_OR_FOLLOWER, as it would a send). KRaft brokers apply a new topic
 * at different times, so without this a fixture's first send could fail before its fault.
 * Writes nothing to the topic.
 */
export async function topicReady(
  bootstrap: readonly string[],
  topic: string,
  timeoutMs = 60_000,
): Promise<void> {
  const admin = async <T>(brokers: string[], fn: (a: Admin) => Promise<T>): Promise<T> => {
    const a = kafkaClient(brokers, "chaos-topic-ready", {
      logLevel: logLevel.NOTHING,
      requestTimeout: 5000,
      retry: { retries: 0 },
    }).admin();
    try {
      await a.connect();
      return await fn(a);
    } finally {
      await a.disconnect().catch(() => {});
    }
  };
  const leaders = (broker: string) =>
    admin([broker], async (a) => {
      const meta = await a.fetchTopicMetadata({ topics: [topic] });
      const partitions = [...(meta.topics[0]?.partitions ?? [])];
      return partitions.sort((x, y) => x.partitionId - y.partitionId).map((p) => p.leader).join();
    });
  await waitFor(async () => {
    const seen = await Promise.all(bootstrap.map(leaders));
    if (seen[0] === "" || seen[0].split(",").some((l) => Number(l) < 0)) return false;
    if (seen.some((s) => s !== seen[0])) return false;
    await admin([...bootstrap], (a) => a.fetchTopicOffsets(topic));
    return true;
  }, { what: `the leaders of ${topic} known to every broker`, timeoutMs, intervalMs: 250 });
}

/** The stack a test runs against; see the module doc. */
export async function testStack(): Promise<TestStack> {
  const shared = Deno.env.get("CHAOS_TEST_STACK");
  if (shared) {
    const stack = await LocalStack.attach(shared);
    if (!stack) {
      throw new Error(`CHAOS_TEST_STACK=${shared} but no stack of that name is running`);
    }
    await heal(stack);
    return { stack, release: () => heal(stack) };
  }
  const basePort = Number(Deno.env.get("CHAOS_TEST_BASE_PORT") ?? 30000);
  const stack = await LocalStack.up({ name: `test-${Deno.pid}`, basePort, owner: "process" });
  return { stack, release: async () => void (await stack.down()) };
}

/** What a command run by a test printed and returned. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A <args>` from the repository root, quietly (no live status,
 * no kafkajs logs), as a user would run a task; returns its code and output.
 */
export async function runDeno(
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandOutput> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: new URL("..", import.meta.url),
    env: { CHAOS_QUIET: "1", KAFKA_LOG_LEVEL: "nothing", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Starts `deno task fault inject <args> --name <stack>` in the background, quietly, as a game
 * day's terminal would: it stays until its fault ends; `output()` waits for it.
 */
export function spawnFaultInject(stack: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "chaos/cli_fault.ts", "inject", ...args, "--name", stack],
    cwd: new URL("..", import.meta.url),
    env: { CHAOS_QUIET: "1", KAFKA_LOG_LEVEL: "nothing" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Undoes every network fault the harness may have left on the stack: nodes
 * back on the network (same address), every iptables rule tagged
 * `chaos-harness` and the root qdisc removed from each namespace. For tests
 * and clean-up; a fault's own heal undoes exactly what it did.
 */
async function clearNetworkFaults(stack: DockerStack): Promise<void> {
  const network = dockerClient().getNetwork(stack.network);
  for (const node of stack.nodes.values()) {
    const info = await node.container.inspect().catch(() => undefined);
    if (!info) continue;
    if (!info.NetworkSettings.Networks?.[stack.network] && node.ip()) {
      await network.connect({
        Container: stack.containerName(node.name),
        EndpointConfig: { IPAMConfig: { IPv4Address: node.ip()! }, Aliases: [node.name] },
      }).catch(() => {});
    }
    if (!info.State.Running || info.State.Paused) continue;
    await stack.runHelper(stack.images.nethelper, [
      "sh",
      "-c",
      "iptables -S | grep chaos-harness | sed 's/^-A /-D /' | while read -r r; do iptables $r; done; " +
      "tc qdisc del dev eth0 root 2>/dev/null; true",
    ], { netnsOf: node.name }).catch(() => {});
  }
}

/** Pids (not this process) whose command line mentions `needle`: what a run left running. */
export function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(needle)) pids.push(Number(e.name));
    } catch { /* gone */ }
  }
  return pids;
}

/**
 * A second address of a Docker engine: TCP connections on a free loopback port relayed to the
 * engine's unix socket (`DOCKER_HOST=tcp://127.0.0.1:<port>`); `connections` counts them,
 * `requested` the bytes sent to the engine through it (a kept-alive connection reused).
 */
export function relayEngine(
  socket: string,
): { port: number; connections(): number; requested(): number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  let bytes = 0;
  const pipe = async (from: ReadableStream<Uint8Array>, to: Deno.Conn) => {
    try {
      await from.pipeTo(to.writable);
    } catch { /* either side closed */ }
  };
  const counted = (conn: Deno.Conn) =>
    conn.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          bytes += chunk.length;
          out.enqueue(chunk);
        },
      }),
    );
  (async () => {
    for await (const conn of listener) {
      count++;
      Deno.connect({ transport: "unix", path: socket }).then((up) => {
        pipe(counted(conn), up);
        pipe(up.readable, conn);
      }).catch(() => conn.close());
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => count,
    requested: () => bytes,
    close: () => listener.close(),
  };
}
