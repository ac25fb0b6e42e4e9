/**
 * Baseline traffic that looks like a real VPC: a pool of internal devices,
 * internal services, external destinations, common ports, log-normal byte
 * counts and 10–50 ms latencies. Pure: the same `Rng` gives the same flows.
 *
 * Address plan. Incidents (anomalies.ts) use these same addresses: their
 * entities are devices (exfiltration, port scan) and internal services
 * (latency spike, reset storm), which keep getting their ordinary traffic, so
 * no address tells an incident apart; only its events do.
 *
 * | range                    | who                                     | share of the events        |
 * | ------------------------ | --------------------------------------- | -------------------------- |
 * | 10.0.0.0 – 10.0.15.159   | 4,000 internal devices: every source    | 1/4,000 each, uniform      |
 * | 10.2.0.16 – 10.2.7.223   | 2,000 internal services                 | 25 % over them, uniform    |
 * | 10.2.0.2, 10.2.0.3       | the DNS resolvers                       | 15 % over the two          |
 * | `EXTERNAL` (10 public)   | external destinations (HTTPS, ICMP, …)  | 60 % over the ten          |
 *
 * What background traffic alone can reach, per entity, at 10,000 events/s
 * over one 60 s window (600,000 events; rules.ts has the thresholds), which
 * is why no rule fires on it (traffic_test.ts checks a full window):
 *
 * - **exfil** (a source's bytes out, UDP 53 x10, >= 50,000,000): a device
 *   sends 150 events on average (Poisson; 250 is 8 standard deviations out).
 *   DNS is at most 120 bytes (1,200 weighted); other bytes out are
 *   log-normal(7.2, 1.3), mean 3.1 KB, capped at 2,000,000. Reaching 50 MB
 *   in 250 events takes at least 13 events above 100 KB (each such event has
 *   a chance of 4.6e-4: at most 0.12 of them expected), a chance below 1e-20
 *   per device and window. Measured (traffic_test.ts): 0.4 MB per device on
 *   average, 1.1 MB for the busiest of the 4,000 (2 % of the threshold).
 * - **port_scan** (distinct ports from a source to one destination, >= 100):
 *   at most 7 (a service gets 6 ports, an external address 443, ICMP's 0 and
 *   5 others, a resolver 53), whatever the rate.
 * - **latency_spike** (a destination's p95 > 1000 ms): every baseline latency
 *   is 10–50 ms, whatever the rate.
 * - **reset_storm** (a destination's share of resets or 5xx >= 0.5, with 20
 *   events or more): 0.4 % of flows are reset (ACK+RST, 503 when HTTP), none
 *   otherwise. 10 resets out of 20 has a chance below (4 x 0.004)^10 ≈ 1e-18;
 *   more events only make it rarer. A service gets 75 events per window on
 *   average.
 *
 * No destination stands at the head of a skewed distribution that could
 * cross: the heavy ones (the resolvers, 45,000 events per window each; the
 * external addresses, 36,000) are as harmless as the rest, but an incident
 * could not stand out of them, so incident destinations are services only.
 *
 * ```ts
 * import { Rng } from "./rng.ts";
 * import { baselineFlow } from "./traffic.ts";
 * const flow = baselineFlow(new Rng(7));
 * ```
 * @module
 */

import type { TelemetryEvent } from "./event.ts";
import type { Rng } from "./rng.ts";

/** An event without the fields the worker fills in (identity and time). */
export type Flow = Omit<TelemetryEvent, "producer_id" | "seq" | "ts_ms">;

export const DEVICE_COUNT = 4000;
export const SERVICE_COUNT = 2000;
const ACCOUNT = "123456789012";
const VPC = "vpc-0a1b2c3d4e5f60718";
const REGIONS = ["eu-west-1", "us-east-1"] as const;
export const EXTERNAL = [
  "93.184.216.34",
  "142.250.74.78",
  "151.101.1.69",
  "104.16.132.229",
  "52.94.236.248",
  "13.107.42.14",
  "140.82.121.4",
  "185.199.108.153",
  "34.117.59.81",
  "23.215.0.136",
] as const;
export const RESOLVERS = ["10.2.0.2", "10.2.0.3"] as const;

/** Internal device `i` (0-based) as a dotted quad in 10.0.0.0/16. */
export function deviceIp(i: number): string {
  return `10.0.${(i >> 8) & 255}.${(i & 255) | 0}`;
}

/** Internal service `i` in 10.2.0.0/16 (10.2.0.2 and .3 are the resolvers). */
function serviceIp(i: number): string {
  const n = i + 16;
  return `10.2.${(n >> 8) & 255}.${n & 255}`;
}

const regionOf = (src: string) =>
  src.charCodeAt(src.length - 1) % 2 === 0 ? REGIONS[0] : REGIONS[1];

const interfaceIds = new Map<string, string>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The baseline's devices, each made once: a fresh address string per event, then hashing it for
 * its interface id, was 7% of the generator's CPU.
 */
const DEVICES = Array.from({ length: DEVICE_COUNT }, (_, i) => {
  const ip = deviceIp(i);
  return { ip, interfaceId: interfaceId(ip), region: regionOf(ip) };
});

/**
 * `text` as one flat string: a string made of pieces is a tree that every later read
 * (`JSON.stringify`, the generator's byte writer, a map's hash) walks again; serialising events
 * whose interface ids were such trees ran at half the speed.
 */
function flat(text: string): string {
  return decoder.decode(encoder.encode(text));
}

/** The interface of a source: a hash of its address, cached (formatting it was 5% of the generator). */
function interfaceId(ip: string): string {
  let id = interfaceIds.get(ip);
  if (id === undefined) {
    if (interfaceIds.size >= 100_000) interfaceIds.clear();
    interfaceIds.set(ip, id = formatInterfaceId(ip));
  }
  return id;
}

function formatInterfaceId(ip: string): string {
  let h = 0;
  for (let i = 0; i < ip.length; i++) h = (Math.imul(h, 31) + ip.charCodeAt(i)) >>> 0;
  return flat(
    `eni-${h.toString(16).padStart(8, "0")}${(h ^ 0x5bd1e995).toString(16).padStart(8, "0")}`,
  );
}

/** Fills the VPC context fields of a flow from its source. */
export function context(src: string, direction: "ingress" | "egress") {
  return {
    flow_direction: direction,
    account_id: ACCOUNT,
    vpc_id: VPC,
    interface_id: interfaceId(src),
    region: regionOf(src),
  } as const;
}

// The choices below are made once: an array literal in baselineFlow is a new array per event.
const KINDS = [["https", 55], ["internal", 25], ["dns", 15], ["icmp", 2], ["other", 3]] as const;
const INTERNAL_PORTS = [443, 8080, 5432, 6379, 9092, 8443] as const;
const OTHER_PORTS = [22, 25, 123, 993, 3389] as const;
const HTTP_STATUSES = [[200, 90], [204, 4], [304, 3], [404, 3]] as const;
const SERVICES = Array.from({ length: SERVICE_COUNT }, (_, i) => serviceIp(i));

/** Every device's address (the sources of baseline traffic), device `i` at `i`. */
export const DEVICE_IPS: readonly string[] = DEVICES.map((d) => d.ip);
/** Every internal service's address, service `i` at `i`. */
export const SERVICE_IPS: readonly string[] = SERVICES;

/** The share of baseline events each destination gets (the weights of `KINDS` over its pool). */
const DESTINATION_SHARES = (() => {
  const total = KINDS.reduce((s, [, w]) => s + w, 0);
  const weight = (name: typeof KINDS[number][0]) => KINDS.find(([k]) => k === name)![1] / total;
  const shares = new Map<string, number>();
  for (const ip of SERVICES) shares.set(ip, weight("internal") / SERVICE_COUNT);
  for (const ip of RESOLVERS) shares.set(ip, weight("dns") / RESOLVERS.length);
  const external = weight("https") + weight("icmp") + weight("other");
  for (const ip of EXTERNAL) shares.set(ip, external / EXTERNAL.length);
  return shares;
})();

/**
 * The share of baseline events sent to `ip` (0 for an address baseline traffic never sends to):
 * at `eps` events per second, `ip` gets `eps * destinationShare(ip)` of them.
 */
export function destinationShare(ip: string): number {
  return DESTINATION_SHARES.get(ip) ?? 0;
}

const clampInt = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(x)));

/** One ordinary flow (one object literal of the schema's shape: the generator's hot path). */
export function baselineFlow(rng: Rng): Flow {
  const device = DEVICES[rng.int(0, DEVICE_COUNT - 1)];
  const src = device.ip;
  const kind = rng.weighted(KINDS);
  const latency = Math.round(rng.normal(28, 7) * 10) / 10;
  let latency_ms = Math.max(10, Math.min(50, latency));
  let dst: string;
  let src_port: number;
  let dst_port: number;
  let protocol: Flow["protocol"];
  let bytes_out: number;
  let bytes_in: number;
  let packets = 2;
  let tcp_flags = "";
  let http_status: number | null = null;
  if (kind === "dns") {
    dst = rng.pick(RESOLVERS);
    src_port = rng.int(32768, 60999);
    dst_port = 53;
    protocol = "UDP";
    bytes_out = rng.int(40, 120);
    bytes_in = rng.int(60, 480);
    latency_ms = Math.min(latency_ms, 30);
  } else if (kind === "icmp") {
    dst = rng.pick(EXTERNAL);
    src_port = 0;
    dst_port = 0;
    protocol = "ICMP";
    bytes_out = 84;
    bytes_in = 84;
  } else {
    const internal = kind === "internal";
    dst = internal ? SERVICES[rng.int(0, SERVICE_COUNT - 1)] : rng.pick(EXTERNAL);
    dst_port = internal ? rng.pick(INTERNAL_PORTS) : kind === "other" ? rng.pick(OTHER_PORTS) : 443;
    bytes_out = clampInt(rng.logNormal(7.2, 1.3), 60, 2_000_000);
    bytes_in = clampInt(rng.logNormal(8.8, 1.6), 60, 20_000_000);
    packets = Math.max(3, Math.round((bytes_out + bytes_in) / 1200));
    const reset = rng.chance(0.004);
    const http = dst_port === 443 || dst_port === 8080 || dst_port === 8443;
    src_port = rng.int(32768, 60999);
    protocol = dst_port === 123 ? "UDP" : "TCP";
    tcp_flags = dst_port === 123 ? "" : reset ? "SYN,ACK,RST" : "SYN,ACK,PSH,FIN";
    if (http) http_status = reset ? 503 : rng.weighted(HTTP_STATUSES);
  }
  return {
    src_ip: src,
    dst_ip: dst,
    src_port,
    dst_port,
    protocol,
    bytes_out,
    bytes_in,
    packets,
    latency_ms,
    tcp_flags,
    http_status,
    action: "ACCEPT",
    flow_direction: "egress",
    account_id: ACCOUNT,
    vpc_id: VPC,
    interface_id: device.interfaceId,
    region: device.region,
  };
}
