/**
 * The event contract shared by every part of the pipeline: one VPC-flow-log-like
 * record per Kafka message on `network-telemetry`, JSON, keyed by `src_ip`.
 *
 * | field         | type                         | notes                                    |
 * | ------------- | ---------------------------- | ---------------------------------------- |
 * | producer_id   | string                       | unique per generator worker per run      |
 * | seq           | int >= 0                     | contiguous per producer_id, from 0       |
 * | ts_ms         | int                          | event time, epoch ms                     |
 * | src_ip/dst_ip | IPv4 dotted quad             |                                          |
 * | src_port/dst_port | int 0..65535             |                                          |
 * | protocol      | TCP, UDP or ICMP             |                                          |
 * | bytes_out/in  | int >= 0                     | from the source's point of view          |
 * | packets       | int >= 0                     |                                          |
 * | latency_ms    | number >= 0                  | round trip of the flow                   |
 * | tcp_flags     | string                       | comma-separated SYN,ACK,FIN,RST,PSH,URG; "" for UDP/ICMP |
 * | http_status   | int 100..599 or null         |                                          |
 * | action        | ACCEPT or REJECT             |                                          |
 * | flow_direction| ingress or egress            |                                          |
 * | account_id    | 12 digits                    | VPC flow log context                     |
 * | vpc_id, interface_id, region | strings       | VPC flow log context                     |
 *
 * ```ts
 * import { parseEvent } from "./event.ts";
 * const result = parseEvent('{"producer_id":"r1-w0","seq":0,...}');
 * if (result.ok) console.log(result.event.src_ip); else console.log(result.reason);
 * ```
 * @module
 */

import { z } from "zod";

export const TOPIC_DEFAULT = "network-telemetry";

export const Protocol = z.enum(["TCP", "UDP", "ICMP"]);
export const Action = z.enum(["ACCEPT", "REJECT"]);
const port = z.number().int().min(0).max(65535);
const count = z.number().int().min(0);

export const TelemetryEvent = z.strictObject({
  producer_id: z.string().min(1).max(128),
  seq: count,
  ts_ms: z.number().int().positive(),
  src_ip: z.ipv4(),
  dst_ip: z.ipv4(),
  src_port: port,
  dst_port: port,
  protocol: Protocol,
  bytes_out: count,
  bytes_in: count,
  packets: count,
  latency_ms: z.number().min(0),
  tcp_flags: z.string().regex(/^((SYN|ACK|FIN|RST|PSH|URG)(,(SYN|ACK|FIN|RST|PSH|URG))*)?$/),
  http_status: z.number().int().min(100).max(599).nullable(),
  action: Action,
  flow_direction: z.enum(["ingress", "egress"]),
  account_id: z.string().regex(/^\d{12}$/),
  vpc_id: z.string().min(1).max(64),
  interface_id: z.string().min(1).max(64),
  region: z.string().min(1).max(32),
});
export type TelemetryEvent = z.infer<typeof TelemetryEvent>;

/**
 * A producer's event serializer: the same text as
 * `JSON.stringify({ producer_id, seq, ts_ms, ...flow })` without copying the flow into a new
 * object per event (the generator's hot path).
 */
export function eventSerializer(
  producerId: string,
): (
  seq: number,
  tsMs: number,
  flow: Omit<TelemetryEvent, "producer_id" | "seq" | "ts_ms">,
) => string {
  const head = `{"producer_id":${JSON.stringify(producerId)},"seq":`;
  return (seq, tsMs, flow) => {
    const rest = JSON.stringify(flow);
    return rest === "{}"
      ? `${head}${seq},"ts_ms":${tsMs}}`
      : `${head}${seq},"ts_ms":${tsMs},${rest.slice(1)}`;
  };
}

export type ParseResult =
  | { ok: true; event: TelemetryEvent }
  | { ok: false; reason: string; producer_id?: string; seq?: number };

/**
 * Parses and validates one message value. On failure, recovers `producer_id`
 * and `seq` from the raw text where the corruption left them readable.
 */
export function parseEvent(raw: string): ParseResult {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, reason: "invalid JSON", ...recoverIdentity(raw) };
  }
  const result = TelemetryEvent.safeParse(data);
  if (result.success) return { ok: true, event: result.data };
  const issue = result.error.issues[0];
  const where = issue.path.length ? issue.path.join(".") : "(root)";
  return { ok: false, reason: `${where}: ${issue.message}`, ...recoverIdentity(raw) };
}

const PRODUCER_RE = /"producer_id"\s*:\s*"([^"\\]{1,128})"/;
const SEQ_RE = /"seq"\s*:\s*(\d{1,15})[,}\s]/;

/** `producer_id` and `seq` read from raw text, when they are there intact. */
export function recoverIdentity(raw: string): { producer_id?: string; seq?: number } {
  const producer = raw.match(PRODUCER_RE)?.[1];
  const seq = raw.match(SEQ_RE)?.[1];
  return {
    ...(producer !== undefined ? { producer_id: producer } : {}),
    ...(seq !== undefined ? { seq: Number(seq) } : {}),
  };
}
