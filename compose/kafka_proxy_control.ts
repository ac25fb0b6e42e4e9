/**
 * The kafka proxy (kafka_proxy.ts) as the local stack and the `kafka_error`
 * fault see it: its node (`kafkaproxy`, one process for every broker: its
 * spec), whether a stack puts it in the path (opt-in: a run whose scenario
 * uses `kafka_error`, or `CHAOS_KAFKA_PROXY=on` for any new local stack),
 * the brokers' client listener advertised at its ports instead of their
 * Toxiproxy client ports (inter-broker and controller traffic stay as they
 * are), and the client of its control API.
 *
 * Placement, for broker i: clients → kafka proxy (base+100+10i+6) → the
 * broker's Toxiproxy client port (base+100+10i+1) → the broker. Its control
 * API is at base+106. Each pipeline component has its own listener per broker
 * (the sink base+100+10i+7, the detector +8, the generator +9:
 * kafka_proxy_routes.ts) and its own bootstrap (`listenerBootstrap`): a fault
 * targets a component by the ports it was given, not by its client id.
 *
 * On the docker stack the proxy is a process on the harness's host as well
 * (the stack's `hostNodes`, docker_proxies.ts), listening on the host's
 * loopback, its upstream Toxiproxy's client ports in Toxiproxy's container
 * (`upstreamHost`): the same chain, the brokers advertise the same ports.
 *
 * ```ts
 * import { KafkaProxyControl } from "./kafka_proxy_control.ts";
 * const proxy = new KafkaProxyControl("http://127.0.0.1:29106");
 * await proxy.set({ mode: "error", brokers: [1], apis: ["Produce"], code: "NOT_LEADER_OR_FOLLOWER", share: 0.2 });
 * (await proxy.state()).counts["1"].errors; // { "Produce/NOT_LEADER_OR_FOLLOWER": 12 }
 * await proxy.clear();
 * ```
 * @module
 */

import { join } from "node:path";
import { repoRoot } from "./paths.ts";
import type { PortPlan } from "./ports.ts";
import type { ProcessSpec } from "./process_node.ts";
import {
  type KafkaProxyMode,
  PROXY_LISTENERS,
  type ProxyCounts,
  type ProxyListener,
} from "./kafka_proxy_mode.ts";
import { listenerPort } from "./kafka_proxy_routes.ts";

/** The proxy's node name in the local stack. */
export const KAFKA_PROXY_NODE = "kafkaproxy";

/** The control API's base URL on a stack of `plan`. */
export function kafkaProxyControlUrl(plan: PortPlan): string {
  return `http://127.0.0.1:${plan.kafkaProxyControl}`;
}

/**
 * Whether a stack runs the kafka proxy: a node of the local stack, or a process on the host of
 * the docker stack (its `hostNodes`).
 */
export function runsKafkaProxy(
  stack: {
    nodes?: ReadonlyMap<string, unknown>;
    hostNodes?: ReadonlyMap<string, unknown>;
  },
): boolean {
  return !!(stack.nodes?.has(KAFKA_PROXY_NODE) || stack.hostNodes?.has(KAFKA_PROXY_NODE));
}

/**
 * The bootstrap `listener`'s clients get on a stack: its own ports when the stack runs the proxy,
 * else the stack's bootstrap (every client the same).
 */
export function listenerBootstrap(
  stack: {
    plan: PortPlan;
    nodes?: ReadonlyMap<string, unknown>;
    hostNodes?: ReadonlyMap<string, unknown>;
    endpoints: { kafka: { bootstrap: string } };
  },
  listener: ProxyListener,
): string {
  if (!runsKafkaProxy(stack)) return stack.endpoints.kafka.bootstrap;
  return stack.plan.brokers.map((b) => `127.0.0.1:${listenerPort(b.kafkaProxy, listener)}`)
    .join(",");
}

/**
 * The spec of the proxy's process: every broker's routes (the harness's and each component's),
 * upstream its Toxiproxy client port, at `upstreamHost` (default 127.0.0.1; the docker stack:
 * Toxiproxy's container, or the remote engine's host).
 */
export function kafkaProxySpec(
  plan: PortPlan,
  dataDir: string,
  options: { direct?: boolean; upstreamHost?: string } = {},
): ProcessSpec {
  const upstream = options.upstreamHost ?? "127.0.0.1";
  return {
    name: KAFKA_PROXY_NODE,
    cmd: Deno.execPath(),
    args: [
      "run",
      `--allow-net=${[...new Set(["127.0.0.1", upstream])].join(",")}`,
      "--no-prompt",
      join(repoRoot, "compose", "kafka_proxy_main.ts"),
      "--control",
      String(plan.kafkaProxyControl),
      ...(upstream === "127.0.0.1" ? [] : ["--upstream-host", upstream]),
      ...plan.brokers.flatMap((b) =>
        PROXY_LISTENERS.flatMap((l) => [
          "--route",
          `${b.id}:${listenerPort(b.kafkaProxy, l)}:${
            options.direct ? b.client.real : b.client.proxy
          }${l === "harness" ? "" : `:${l}`}`,
        ])
      ),
    ],
    cwd: dataDir,
    logFile: join(dataDir, "logs", `${KAFKA_PROXY_NODE}.log`),
    pidFile: join(dataDir, "pids", `${KAFKA_PROXY_NODE}.pid`),
  };
}

/**
 * Whether a new local stack puts the proxy in the path: `asked` (a run whose scenario uses
 * `kafka_error`), else `CHAOS_KAFKA_PROXY=on` (`off`, or unset: not).
 */
export function kafkaProxyWanted(
  asked: boolean | undefined,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): boolean {
  return asked ?? env("CHAOS_KAFKA_PROXY") === "on";
}

/**
 * `server.properties` text with the CLIENT listener advertised at `host:port` (the proxy's),
 * the other listeners as they were. Throws when the text advertises no CLIENT listener.
 */
export function advertiseClientAt(properties: string, host: string, port: number): string {
  let found = false;
  const text = properties.replace(/^advertised\.listeners=(.*)$/m, (_, value: string) => {
    const listeners = value.split(",").map((l) => {
      if (!l.startsWith("CLIENT://")) return l;
      found = true;
      return `CLIENT://${host}:${port}`;
    });
    return `advertised.listeners=${listeners.join(",")}`;
  });
  if (!found) throw new Error("server.properties advertises no CLIENT listener");
  return text;
}

/** Rewrites each broker's `server.properties` under `dataDir` to advertise the proxy's port. */
export async function advertiseThroughProxy(plan: PortPlan, dataDir: string): Promise<void> {
  for (const b of plan.brokers) {
    const file = join(dataDir, `kafka-${b.id}`, "server.properties");
    await Deno.writeTextFile(
      file,
      advertiseClientAt(await Deno.readTextFile(file), "127.0.0.1", b.kafkaProxy),
    );
  }
}

/** The control API refused a call, or did not answer. */
export class KafkaProxyError extends Error {
  override name = "KafkaProxyError";
}

export interface KafkaProxyState {
  mode: KafkaProxyMode | null;
  counts: ProxyCounts;
}

export class KafkaProxyControl {
  constructor(readonly control: string) {}

  async #call(method: string, path: string, body?: unknown): Promise<KafkaProxyState> {
    let response: Response;
    try {
      response = await fetch(`${this.control}${path}`, {
        method,
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(5000),
      });
    } catch (error) {
      throw new KafkaProxyError(
        `the kafka proxy's control API (${this.control}) did not answer`,
        { cause: error },
      );
    }
    const text = await response.text();
    if (!response.ok) {
      throw new KafkaProxyError(`the kafka proxy refused ${method} ${path}: ${text}`);
    }
    return JSON.parse(text) as KafkaProxyState;
  }

  /** The mode in force and the counts so far, per broker. */
  state(): Promise<KafkaProxyState> {
    return this.#call("GET", "/counts");
  }

  /** Sets the mode (replacing any). */
  set(mode: KafkaProxyMode): Promise<KafkaProxyState> {
    return this.#call("PUT", "/mode", mode);
  }

  /** Passes everything through again. */
  clear(): Promise<KafkaProxyState> {
    return this.#call("DELETE", "/mode");
  }
}

/** Whether the proxy's control API answers. */
export async function kafkaProxyUp(control: string): Promise<boolean> {
  try {
    await new KafkaProxyControl(control).state();
    return true;
  } catch {
    return false;
  }
}
