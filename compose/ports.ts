/**
 * The port plan of a local stack: every port is derived from one base port, so
 * a second stack on another base port runs beside the first. A stack takes
 * base..base+299: keep two stacks at least 300 apart.
 *
 * Every Kafka listener (client, inter-broker, controller) has a real port the
 * broker binds and a Toxiproxy port in front of it. Brokers advertise the proxy
 * ports, so every byte between clients and brokers, and between brokers, passes
 * through Toxiproxy: that is how latency, resets and partitions reach Kafka.
 *
 * ```ts
 * import { portPlan } from "./ports.ts";
 * const plan = portPlan(29000, 3);
 * plan.brokers[0].client.proxy; // 29111
 * ```
 * @module
 */

import { UsageError } from "../lib/exit_codes.ts";

export const DEFAULT_BASE_PORT = 29000;

/** A listener: the port the service binds and the Toxiproxy port in front of it. */
export interface ProxiedPort {
  real: number;
  proxy: number;
}

export interface BrokerPorts {
  id: number;
  client: ProxiedPort;
  internal: ProxiedPort;
  controller: ProxiedPort;
  /**
   * The proxy ports this broker reaches each controller through (its own
   * `controller.quorum.voters`), by controller id: one proxy per direction and
   * pair, so a partition can also cut what the isolated broker sends out.
   */
  quorum: Record<number, number>;
  /** The kafka proxy in front of the client listener (compose/kafka_proxy.ts), when it runs. */
  kafkaProxy: number;
}

export interface PortPlan {
  base: number;
  brokers: BrokerPorts[];
  minio: number;
  minioConsole: number;
  /** The S3 proxy in front of MinIO (compose/s3_proxy.ts), the pipeline's S3 endpoint. */
  s3Proxy: number;
  /** The S3 proxy's control API (set and clear a misbehaviour, read its counts). */
  s3ProxyControl: number;
  /** The kafka proxy's control API (compose/kafka_proxy.ts), when it runs. */
  kafkaProxyControl: number;
  redis: number;
  toxiproxy: number;
  webhook: number;
  metrics: number;
}

/**
 * Ports for a stack with `brokers` brokers (1..9) at `base` (1024..65000-ish).
 *
 * | service               | port                  |
 * | --------------------- | --------------------- |
 * | MinIO API / console   | base+10 / base+11     |
 * | S3 proxy / control    | base+12 / base+13     |
 * | Redis                 | base+20               |
 * | Toxiproxy API         | base+30               |
 * | webhook receiver      | base+40               |
 * | metrics (harness)     | base+50..base+59      |
 * | broker i client       | base+100+10i (+1 proxy)|
 * | broker i internal     | +2 (+3 proxy)         |
 * | broker i controller   | +4 (+5 proxy)         |
 * | broker i kafka proxy  | +6 (compose/kafka_proxy.ts) |
 * | kafka proxy control   | base+106              |
 * | broker i -> controller j | base+200+10i+j     |
 */
export function portPlan(base: number, brokers: number): PortPlan {
  if (!Number.isInteger(base) || base < 1024 || base + 300 > 65535) {
    throw new UsageError(`base port must be an integer from 1024 to 65235, got ${base}`);
  }
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > 9) {
    throw new UsageError(`broker count must be from 1 to 9, got ${brokers}`);
  }
  return {
    base,
    brokers: Array.from({ length: brokers }, (_, i) => {
      const id = i + 1;
      const at = base + 100 + id * 10;
      return {
        id,
        client: { real: at, proxy: at + 1 },
        internal: { real: at + 2, proxy: at + 3 },
        controller: { real: at + 4, proxy: at + 5 },
        kafkaProxy: at + 6,
        quorum: Object.fromEntries(
          Array.from({ length: brokers }, (_, j) => [j + 1, base + 200 + id * 10 + j + 1]),
        ),
      };
    }),
    minio: base + 10,
    minioConsole: base + 11,
    s3Proxy: base + 12,
    s3ProxyControl: base + 13,
    kafkaProxyControl: base + 106,
    redis: base + 20,
    toxiproxy: base + 30,
    webhook: base + 40,
    metrics: base + 50,
  };
}

/** Every port the stack binds (real and proxy ports), for a free-port check. */
export function allPorts(plan: PortPlan): number[] {
  const ports = [
    plan.minio,
    plan.minioConsole,
    plan.s3Proxy,
    plan.s3ProxyControl,
    plan.redis,
    plan.toxiproxy,
    plan.kafkaProxyControl,
  ];
  for (const b of plan.brokers) {
    for (const l of [b.client, b.internal, b.controller]) ports.push(l.real, l.proxy);
    // The kafka proxy's: the harness's, then the sink's, the detector's, the generator's.
    ports.push(...Object.values(b.quorum), b.kafkaProxy, ...[1, 2, 3].map((d) => b.kafkaProxy + d));
  }
  return ports;
}
