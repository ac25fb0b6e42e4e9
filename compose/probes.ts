/**
 * Health probes that speak each service's protocol with nothing but a socket or
 * `fetch`, so they are cheap enough to call every second.
 *
 * ```ts
 * import { redisPing } from "./probes.ts";
 * await redisPing(29020); // true
 * ```
 * @module
 */

import { logLevel } from "kafkajs";
import { kafkaClient } from "../pipeline/kafka.ts";
import { redisCommands } from "./redis_wire.ts";

/**
 * Sends `PING` to Redis (after `AUTH` with `password`, the `default` user's) and expects `+PONG`:
 * a Redis busy running a script answers `-BUSY` and is not ready (chaos/redis_guard.ts ends it).
 */
export async function redisPing(
  port: number,
  host = "127.0.0.1",
  timeoutMs = 2000,
  password?: string,
): Promise<boolean> {
  const [reply] = await redisCommands({ host, port, password }, [["PING"]], { timeoutMs })
    .catch(() => []);
  return reply?.type === "+" && reply.text === "PONG";
}

/** MinIO's readiness endpoint answers 200. */
export async function minioReady(endpoint: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/minio/health/ready`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Toxiproxy's API answers its version. */
export async function toxiproxyUp(api: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await fetch(`${api}/version`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Ids of the brokers the cluster metadata lists, seen through `brokers`. */
export async function kafkaBrokerIds(brokers: string[], timeoutMs = 5000): Promise<number[]> {
  const kafka = kafkaClient(brokers, "chaos-probe", {
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
