/**
 * What the kafka proxy (kafka_proxy.ts) does to a request: the misbehaviour
 * set through its control API (`KafkaProxyMode`: answer an error, delay one
 * API's answers, or forward a Produce and drop its answer, for a share of the
 * requests of some brokers and of some of the proxy's listeners), the
 * decision for one request (`decide`, pure: the dice are passed in), and the
 * counts of what it did, per broker and API.
 *
 * A request's client is known by the listener it came in on, never by the
 * client id it sends (a graded sink could send the generator's): each
 * pipeline component (`PROXY_TARGETS`) has its own ports, the only ones its
 * bootstrap and the proxy's Metadata answers give it (kafka_proxy_routes.ts),
 * and every other client (the harness's admin and audit, tools) the brokers'
 * advertised ones (`harness`).
 *
 * ```ts
 * import { decide } from "./kafka_proxy_mode.ts";
 * const mode = { mode: "error", brokers: [1], apis: ["Produce"], code: "NOT_LEADER_OR_FOLLOWER", share: 1 } as const;
 * decide(mode, { broker: 1, apiKey: 0, listener: "generator" }, Math.random); // { action: "error", code: 6, ... }
 * ```
 * @module
 */

import { apiName } from "./kafka_wire.ts";
import {
  ERROR_APIS,
  ERROR_CODES,
  type ErrorApi,
  type ErrorCodeName,
  VALID_CODES,
} from "./kafka_wire_errors.ts";

export const PROXY_MODES = ["error", "delay", "drop_answer"] as const;

/** The pipeline's components, each with listeners of its own on the proxy: what a mode targets. */
export const PROXY_TARGETS = ["generator", "sink", "detector"] as const;
export type ProxyTarget = typeof PROXY_TARGETS[number];
/** The proxy's listeners: a component's, or the brokers' advertised ports (`harness`: the rest). */
export const PROXY_LISTENERS = ["harness", ...PROXY_TARGETS] as const;
export type ProxyListener = typeof PROXY_LISTENERS[number];
export type ProxyModeName = typeof PROXY_MODES[number];

/** A misbehaviour of the proxy, as its control API takes it (`PUT /mode`). */
export interface KafkaProxyMode {
  mode: ProxyModeName;
  /** The brokers (ids) whose connections misbehave. */
  brokers: number[];
  /** The APIs it acts on: `error` any of ERROR_APIS, `delay` exactly one, `drop_answer` Produce. */
  apis: ErrorApi[];
  /** `error`: the code answered; valid for every API of `apis` (VALID_CODES). */
  code?: ErrorCodeName;
  /** `delay`: how long each answer is held back. */
  delayMs?: number;
  /** The share of the matching requests it acts on, 0..1. */
  share: number;
  /**
   * Only requests that came in on these components' listeners (default: every listener's, the
   * harness's included).
   */
  targets?: ProxyTarget[];
}

/** The problems of a mode (empty: valid), each naming the field and the value seen. */
export function modeProblems(m: KafkaProxyMode): string[] {
  const problems: string[] = [];
  if (!PROXY_MODES.includes(m.mode)) problems.push(`mode must be ${PROXY_MODES.join("/")}`);
  if (!Array.isArray(m.brokers) || !m.brokers.length || !m.brokers.every(Number.isInteger)) {
    problems.push(`brokers must be broker ids, got ${JSON.stringify(m.brokers)}`);
  }
  if (!Array.isArray(m.apis) || !m.apis.length || !m.apis.every((a) => ERROR_APIS.includes(a))) {
    problems.push(`apis must be some of ${ERROR_APIS.join(", ")}, got ${JSON.stringify(m.apis)}`);
  }
  if (typeof m.share !== "number" || !(m.share >= 0 && m.share <= 1)) {
    problems.push(`share must be 0..1, got ${m.share}`);
  }
  const targets = m.targets;
  if (
    targets !== undefined &&
    (!Array.isArray(targets) || !targets.length || !targets.every((t) => PROXY_TARGETS.includes(t)))
  ) {
    problems.push(
      `targets must be some of ${PROXY_TARGETS.join(", ")}, got ${JSON.stringify(targets)}`,
    );
  }
  if ("clients" in m) {
    problems.push("clients (client id prefixes, which a client chooses) is gone: use targets");
  }
  if (problems.length) return problems;
  if (m.mode === "error") {
    if (!m.code || !(m.code in ERROR_CODES)) {
      problems.push(`code must be one of ${Object.keys(ERROR_CODES).join(", ")}, got ${m.code}`);
    } else {
      for (const api of m.apis.filter((a) => !VALID_CODES[a].includes(m.code!))) {
        problems.push(
          `${api} is never answered ${m.code} (it is answered ${VALID_CODES[api].join(" or ")})`,
        );
      }
    }
  }
  if (m.mode === "delay") {
    if (m.apis.length !== 1) problems.push(`delay acts on one API, got ${m.apis.join(", ")}`);
    if (!Number.isInteger(m.delayMs) || m.delayMs! < 0) {
      problems.push(`delayMs must be whole milliseconds, got ${m.delayMs}`);
    }
  }
  if (m.mode === "drop_answer" && (m.apis.length !== 1 || m.apis[0] !== "Produce")) {
    problems.push(`drop_answer acts on Produce only, got ${m.apis.join(", ")}`);
  }
  return problems;
}

/** What happens to one request. */
export type Decision =
  | { action: "forward" }
  | { action: "error"; code: number; name: ErrorCodeName }
  | { action: "delay"; delayMs: number }
  | { action: "drop_answer" };

const FORWARD: Decision = { action: "forward" };

/**
 * The decision for a request of `apiKey` to broker `broker` that came in on `listener`; `dice()`
 * is uniform in [0, 1). The client id a request carries plays no part.
 */
export function decide(
  mode: KafkaProxyMode | undefined,
  request: { broker: number; apiKey: number; listener: ProxyListener },
  dice: () => number,
): Decision {
  if (!mode || !mode.brokers.includes(request.broker)) return FORWARD;
  if (!mode.apis.includes(apiName(request.apiKey) as ErrorApi)) return FORWARD;
  if (mode.targets && !(mode.targets as string[]).includes(request.listener)) return FORWARD;
  if (!(dice() < mode.share)) return FORWARD;
  if (mode.mode === "error") {
    return { action: "error", code: ERROR_CODES[mode.code!], name: mode.code! };
  }
  if (mode.mode === "delay") return { action: "delay", delayMs: mode.delayMs ?? 0 };
  return { action: "drop_answer" };
}

/** What the proxy did on one broker's connections, by API (and code). */
export interface BrokerCounts {
  connections: number;
  /** Connections by the listener they came in on (`harness`, `sink`, ...). */
  listeners: Record<string, number>;
  /**
   * Requests on a component's listener whose answer names brokers the proxy cannot point at the
   * component's ports (an API version above its caps): the connection is cut, by API.
   */
  refused: Record<string, number>;
  requests: Record<string, number>;
  /** Error answers, by `API/CODE`. */
  errors: Record<string, number>;
  delayed: Record<string, number>;
  /** Answers dropped (the request was forwarded and done). */
  dropped: Record<string, number>;
  /** Requests a mode matched that the proxy forwarded untouched: a version it cannot encode. */
  untouched: Record<string, number>;
  /** ApiVersions answers whose versions it capped. */
  capped: number;
}

export type ProxyCounts = Record<string, BrokerCounts>;

export function emptyCounts(): BrokerCounts {
  return {
    connections: 0,
    listeners: {},
    refused: {},
    requests: {},
    errors: {},
    delayed: {},
    dropped: {},
    untouched: {},
    capped: 0,
  };
}

/** Adds one to `record[key]`. */
export function bump(record: Record<string, number>, key: string, n = 1): void {
  record[key] = (record[key] ?? 0) + n;
}

/** The sum of one kind of count (`errors`, `delayed`, `dropped`) over some brokers. */
export function total(
  counts: ProxyCounts,
  kind: "errors" | "delayed" | "dropped",
  brokers?: readonly number[],
): number {
  let sum = 0;
  for (const [id, c] of Object.entries(counts)) {
    if (brokers && !brokers.includes(Number(id))) continue;
    for (const n of Object.values(c[kind])) sum += n;
  }
  return sum;
}

/** `after` minus `before`, kind by kind and key by key (what happened in between). */
export function countsSince(before: ProxyCounts, after: ProxyCounts): ProxyCounts {
  const out: ProxyCounts = {};
  for (const [id, a] of Object.entries(after)) {
    const b = before[id] ?? emptyCounts();
    const diff = (x: Record<string, number>, y: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(x).map(([k, v]) => [k, v - (y[k] ?? 0)]).filter(([, v]) => v !== 0),
      );
    out[id] = {
      connections: a.connections - b.connections,
      listeners: diff(a.listeners ?? {}, b.listeners ?? {}),
      refused: diff(a.refused ?? {}, b.refused ?? {}),
      requests: diff(a.requests, b.requests),
      errors: diff(a.errors, b.errors),
      delayed: diff(a.delayed, b.delayed),
      dropped: diff(a.dropped, b.dropped),
      untouched: diff(a.untouched, b.untouched),
      capped: a.capped - b.capped,
    };
  }
  return out;
}
