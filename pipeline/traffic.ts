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

/** Every destination a baseline flow has, by `BaselineChoice.dst`: services, resolvers, external. */
export const BASELINE_DESTINATIONS: readonly string[] = [...SERVICES, ...RESOLVERS, ...EXTERNAL];
const RESOLVER_AT = SERVICE_COUNT;
const EXTERNAL_AT = SERVICE_COUNT + RESOLVERS.length;
/** A baseline flow's protocols and TCP flags, by `BaselineChoice.protocol` and `.tcpFlags`. */
export const BASELINE_PROTOCOLS = ["TCP", "UDP", "ICMP"] as const;
export const BASELINE_TCP_FLAGS = ["", "SYN,ACK,RST", "SYN,ACK,PSH,FIN"] as const;
const TCP = 0, UDP = 1, ICMP = 2;
const NO_FLAGS = 0, RESET = 1, CLOSED = 2;

/**
 * One baseline flow as numbers and table indexes (`DEVICE_IPS`, `BASELINE_DESTINATIONS`, ...):
 * what `baselineChoice` picks, written over the same object each time (no allocation per event,
 * the generator's byte writer reads it); `flowOf` makes the flow itself.
 */
export interface BaselineChoice {
  device: number;
  dst: number;
  src_port: number;
  dst_port: number;
  protocol: number;
  bytes_out: number;
  bytes_in: number;
  packets: number;
  /** `latency_ms` in tenths (an integer: the flow's latency is rounded to a tenth). */
  latencyTenths: number;
  tcpFlags: number;
  /** -1 for none (null). */
  http_status: number;
}

/** A choice to write over (`baselineChoice`). */
export function newBaselineChoice(): BaselineChoice {
  return {
    device: 0,
    dst: 0,
    src_port: 0,
    dst_port: 0,
    protocol: 0,
    bytes_out: 0,
    bytes_in: 0,
    packets: 0,
    latencyTenths: 0,
    tcpFlags: 0,
    http_status: -1,
  };
}

/** Picks one ordinary flow into `c` (the same draws, in the same order, as `baselineFlow`). */
export function baselineChoice(rng: Rng, c: BaselineChoice): BaselineChoice {
  c.device = rng.int(0, DEVICE_COUNT - 1);
  const kind = rng.weighted(KINDS);
  // clamp(round(x * 10) / 10, 10, 50) in tenths: the same number once divided by ten.
  let tenths = Math.max(100, Math.min(500, Math.round(rng.normal(28, 7) * 10)));
  c.packets = 2;
  c.tcpFlags = NO_FLAGS;
  c.http_status = -1;
  if (kind === "dns") {
    c.dst = RESOLVER_AT + rng.int(0, RESOLVERS.length - 1);
    c.src_port = rng.int(32768, 60999);
    c.dst_port = 53;
    c.protocol = UDP;
    c.bytes_out = rng.int(40, 120);
    c.bytes_in = rng.int(60, 480);
    tenths = Math.min(tenths, 300);
  } else if (kind === "icmp") {
    c.dst = EXTERNAL_AT + rng.int(0, EXTERNAL.length - 1);
    c.src_port = 0;
    c.dst_port = 0;
    c.protocol = ICMP;
    c.bytes_out = 84;
    c.bytes_in = 84;
  } else {
    const internal = kind === "internal";
    c.dst = internal
      ? rng.int(0, SERVICE_COUNT - 1)
      : EXTERNAL_AT + rng.int(0, EXTERNAL.length - 1);
    const dst_port = internal
      ? rng.pick(INTERNAL_PORTS)
      : kind === "other"
      ? rng.pick(OTHER_PORTS)
      : 443;
    const bytes_out = clampInt(rng.logNormal(7.2, 1.3), 60, 2_000_000);
    const bytes_in = clampInt(rng.logNormal(8.8, 1.6), 60, 20_000_000);
    c.dst_port = dst_port;
    c.bytes_out = bytes_out;
    c.bytes_in = bytes_in;
    c.packets = Math.max(3, Math.round((bytes_out + bytes_in) / 1200));
    const reset = rng.chance(0.004);
    const http = dst_port === 443 || dst_port === 8080 || dst_port === 8443;
    c.src_port = rng.int(32768, 60999);
    c.protocol = dst_port === 123 ? UDP : TCP;
    c.tcpFlags = dst_port === 123 ? NO_FLAGS : reset ? RESET : CLOSED;
    if (http) c.http_status = reset ? 503 : rng.weighted(HTTP_STATUSES);
  }
  c.latencyTenths = tenths;
  return c;
}

/** The flow a choice stands for (one object literal of the schema's shape). */
export function flowOf(c: BaselineChoice): Flow {
  const device = DEVICES[c.device];
  return {
    src_ip: device.ip,
    dst_ip: BASELINE_DESTINATIONS[c.dst],
    src_port: c.src_port,
    dst_port: c.dst_port,
    protocol: BASELINE_PROTOCOLS[c.protocol],
    bytes_out: c.bytes_out,
    bytes_in: c.bytes_in,
    packets: c.packets,
    latency_ms: c.latencyTenths / 10,
    tcp_flags: BASELINE_TCP_FLAGS[c.tcpFlags],
    http_status: c.http_status < 0 ? null : c.http_status,
    action: "ACCEPT",
    flow_direction: "egress",
    account_id: ACCOUNT,
    vpc_id: VPC,
    interface_id: device.interfaceId,
    region: device.region,
  };
}

const scratch = newBaselineChoice();

/** One ordinary flow. */
export function baselineFlow(rng: Rng): Flow {
  return flowOf(baselineChoice(rng, scratch));
}
