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

/** Sends `PING` to Redis and expects `+PONG`. */
export async function redisPing(
  port: number,
  host = "127.0.0.1",
  timeoutMs = 2000,
  password?: string,
): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ hostname: host, port });
    const auth = password ? `AUTH ${JSON.stringify(password)}\r\n` : "";
    await conn.write(new TextEncoder().encode(`${auth}PING\r\n`));
    const buf = new Uint8Array(256);
    let answer = "";
    // With AUTH first, "+OK" and "+PONG" may come in one read or two.
    for (let i = 0; i < 2 && !answer.includes("+PONG") && !answer.startsWith("-"); i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      answer += new TextDecoder().decode(buf.subarray(0, n));
    }
    return answer.includes("+PONG");
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
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
