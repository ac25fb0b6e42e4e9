/**
 * Knobs: settings with the same names everywhere. Each knob has an environment
 * name (`EPS_TARGET`), a CLI flag (`--eps`) and a scenario key (`eps`); flags
 * beat the environment, which beats the default. Every problem is reported at
 * once, naming the knob and the value seen, as a `UsageError` (exit code 2).
 *
 * ```ts
 * import { GENERATOR_KNOBS, resolveKnobs } from "./knobs.ts";
 * const cfg = resolveKnobs(GENERATOR_KNOBS, { flags: { eps: "20000" }, env: Deno.env.toObject() });
 * cfg.EPS_TARGET; // 20000
 * ```
 * @module
 */

import { UsageError } from "../lib/exit_codes.ts";
import { DEFAULT_KAFKA_CLIENT } from "./producer_client.ts";
import { parseDuration } from "../lib/duration.ts";

export type KnobType = "int" | "number" | "prob" | "bool" | "duration" | "string" | "list";

export interface Knob {
  env: string;
  flag: string;
  type: KnobType;
  default: string | number | boolean | string[];
  min?: number;
  max?: number;
  help: string;
}

export type KnobValue = string | number | boolean | string[];

function parseValue(knob: Knob, raw: string | boolean): KnobValue | string {
  const text = String(raw).trim();
  switch (knob.type) {
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      return "must be true or false";
    case "int":
    case "number":
    case "prob": {
      const n = Number(text);
      if (text === "" || !Number.isFinite(n)) return "must be a number";
      if (knob.type === "int" && !Number.isInteger(n)) return "must be an integer";
      const min = knob.type === "prob" ? 0 : knob.min;
      const max = knob.type === "prob" ? 1 : knob.max;
      if (min !== undefined && n < min) return `must be at least ${min}`;
      if (max !== undefined && n > max) return `must be at most ${max}`;
      return n;
    }
    case "duration": {
      const ms = parseDuration(text);
      if (ms === undefined) return 'must be a duration like "90s", "2m" or "1500ms"';
      if (knob.min !== undefined && ms < knob.min) return `must be at least ${knob.min} ms`;
      return ms;
    }
    case "list":
      return text === "" ? [] : text.split(",").map((s) => s.trim()).filter(Boolean);
    case "string":
      return text;
  }
}

/**
 * Resolves every knob from flags (by flag name), then the environment (by env
 * name), then its default. Returns values keyed by env name.
 */
export function resolveKnobs(
  knobs: readonly Knob[],
  sources: { flags?: Record<string, string | boolean | undefined>; env?: Record<string, string> },
): Record<string, KnobValue> {
  const out: Record<string, KnobValue> = {};
  const problems: string[] = [];
  for (const knob of knobs) {
    const fromFlag = sources.flags?.[knob.flag];
    const fromEnv = sources.env?.[knob.env];
    const raw = fromFlag ?? fromEnv;
    if (raw === undefined) {
      out[knob.env] = knob.default;
      continue;
    }
    const value = parseValue(knob, raw);
    const isError = typeof value === "string" && knob.type !== "string";
    if (isError) {
      const where = fromFlag !== undefined ? `--${knob.flag}` : knob.env;
      problems.push(`${where} ${value}, got "${raw}"`);
    } else {
      out[knob.env] = value;
    }
  }
  if (problems.length) throw new UsageError(problems.join("\n"));
  return out;
}

/** Help text: one line per knob. */
export function knobHelp(knobs: readonly Knob[]): string {
  return knobs.map((k) =>
    `  --${k.flag.padEnd(22)} ${k.env.padEnd(22)} ${k.help} (default ${
      Array.isArray(k.default) ? k.default.join(",") || '""' : k.default
    })`
  ).join("\n");
}

export const GENERATOR_KNOBS: readonly Knob[] = [
  {
    env: "KAFKA_BROKERS",
    flag: "brokers",
    type: "list",
    default: [],
    help: "bootstrap host:port list (default: the running local stack)",
  },
  {
    env: "KAFKA_TOPIC",
    flag: "topic",
    type: "string",
    default: "network-telemetry",
    help: "topic",
  },
  {
    env: "EPS_TARGET",
    flag: "eps",
    type: "int",
    default: 10000,
    min: 1,
    max: 2_000_000,
    help: "target events per second",
  },
  {
    env: "WORKER_COUNT",
    flag: "workers",
    type: "int",
    default: 4,
    min: 1,
    max: 64,
    help: "producer workers (one producer_id each)",
  },
  {
    env: "WORKER_OFFSET",
    flag: "worker-offset",
    type: "int",
    default: 0,
    min: 0,
    max: 100_000,
    help: "first worker's number: several generators share one --run-id (validate --ledger)",
  },
  {
    env: "DURATION",
    flag: "duration",
    type: "duration",
    default: 60_000,
    min: 1,
    help: "run time",
  },
  { env: "SEED", flag: "seed", type: "string", default: "1", help: "random seed" },
  {
    env: "CHAOS_MODE",
    flag: "chaos-mode",
    type: "bool",
    default: false,
    help: "enable random anomalies and malformed records",
  },
  {
    env: "LATENCY_SPIKE_PROB",
    flag: "latency-spike-prob",
    type: "prob",
    default: 0.00001,
    help: "per event, chance a latency spike starts (chaos mode)",
  },
  {
    env: "ERROR_RATE_PROB",
    flag: "error-rate-prob",
    type: "prob",
    default: 0.00001,
    help: "per event, chance a reset/503 storm starts (chaos mode)",
  },
  {
    env: "DATA_EXFIL_PROB",
    flag: "data-exfil-prob",
    type: "prob",
    default: 0.00001,
    help: "per event, chance an exfiltration starts (chaos mode)",
  },
  {
    env: "PORT_SCAN_PROB",
    flag: "port-scan-prob",
    type: "prob",
    default: 0.00001,
    help: "per event, chance a port scan starts (chaos mode)",
  },
  {
    env: "MALFORMED_PROB",
    flag: "malformed-prob",
    type: "prob",
    default: 0.001,
    help: "per event, chance it is malformed (chaos mode)",
  },
  {
    env: "BATCH_SIZE",
    flag: "batch-size",
    type: "int",
    default: 1000,
    min: 1,
    max: 100_000,
    help: "most events a worker sends at once (split by partition, 896 KiB per request at most)",
  },
  {
    env: "DELIVERY_TIMEOUT",
    flag: "delivery-timeout",
    type: "duration",
    default: 30_000,
    min: 1000,
    help: "after this, an unacknowledged send is recorded unknown",
  },
  {
    env: "PRODUCER_ACKS",
    flag: "acks",
    type: "string",
    default: "all",
    help: "all, 1 or 0 (all with idempotence is the safe set-up)",
  },
  {
    env: "PRODUCER_SEND_MODE",
    flag: "send-mode",
    type: "string",
    default: "per-partition",
    help: "per-partition (one produce call per leader) or batch (exposes kafkajs issue 1303)",
  },
  {
    env: "KAFKA_CLIENT",
    flag: "kafka-client",
    type: "string",
    default: DEFAULT_KAFKA_CLIENT,
    help: "the producing client: kafkajs, platformatic (@platformatic/kafka) or lean (own encoder)",
  },
  {
    env: "GENERATOR_THREADS",
    flag: "threads",
    type: "bool",
    default: true,
    help: "each worker in a thread of its own (false: all on one thread)",
  },
  {
    env: "PRODUCER_IDEMPOTENT",
    flag: "idempotent",
    type: "bool",
    default: true,
    help: "idempotent producer",
  },
  { env: "RUN_ID", flag: "run-id", type: "string", default: "", help: "run id (default: random)" },
  {
    env: "METRICS_PORT",
    flag: "metrics-port",
    type: "int",
    default: 0,
    min: 0,
    max: 65535,
    help: "serve Prometheus /metrics here (0: off)",
  },
];

export const SINK_KNOBS: readonly Knob[] = [
  GENERATOR_KNOBS.find((k) => k.env === "KAFKA_BROKERS")!,
  GENERATOR_KNOBS.find((k) => k.env === "KAFKA_TOPIC")!,
  {
    env: "SINK_GROUP",
    flag: "group",
    type: "string",
    default: "telemetry-sink",
    help: "consumer group",
  },
  {
    env: "SINK_BATCH_EVENTS",
    flag: "batch-events",
    type: "int",
    default: 5000,
    min: 1,
    max: 1_000_000,
    help: "flush a batch at this many records",
  },
  {
    env: "SINK_BATCH_BYTES",
    flag: "batch-bytes",
    type: "int",
    default: 4 * 1024 * 1024,
    min: 1024,
    max: 512 * 1024 * 1024,
    help: "flush a batch at this many raw bytes",
  },
  {
    env: "SINK_BATCH_MAX_AGE",
    flag: "batch-age",
    type: "duration",
    default: 2000,
    min: 10,
    help: "flush a batch when its oldest record is this old",
  },
  {
    env: "SINK_GZIP_LEVEL",
    flag: "gzip-level",
    type: "int",
    default: 3,
    min: 1,
    max: 9,
    help: "gzip level of the stored objects (3: half of level 6's time for 15% more bytes)",
  },
  {
    env: "SINK_CODEC_WORKER",
    flag: "codec-worker",
    type: "bool",
    default: true,
    help: "parse, validate and gzip in a worker thread (false: on the consuming thread)",
  },
  {
    env: "SINK_DROP_EVERY",
    flag: "drop-every",
    type: "int",
    default: 0,
    min: 0,
    max: 1_000_000_000,
    help:
      "SABOTAGE for tests of the validator and grader: silently drop every Nth valid event (0: never)",
  },
  {
    env: "SINK_SABOTAGE",
    flag: "sabotage",
    type: "string",
    default: "none",
    help: "SABOTAGE for tests of the grader: none, ids-only (store only producer_id and seq), " +
      "twice (every event twice), no-dlq (malformed records raw in events/), " +
      "commit-first (commit a batch, upload it 6 s later)",
  },
  GENERATOR_KNOBS.find((k) => k.env === "METRICS_PORT")!,
];

export const DETECTOR_KNOBS: readonly Knob[] = [
  GENERATOR_KNOBS.find((k) => k.env === "KAFKA_BROKERS")!,
  GENERATOR_KNOBS.find((k) => k.env === "KAFKA_TOPIC")!,
  {
    env: "DETECTOR_GROUP",
    flag: "group",
    type: "string",
    default: "telemetry-detector",
    help: "consumer group",
  },
  {
    env: "REDIS_URL",
    flag: "redis",
    type: "string",
    default: "",
    help: "Redis (default: the stack's)",
  },
  {
    env: "WEBHOOK_URL",
    flag: "webhook",
    type: "string",
    default: "",
    help: "where alerts are POSTed",
  },
  {
    env: "WEBHOOK_FORMAT",
    flag: "webhook-format",
    type: "string",
    default: "json",
    help: "body of deliveries: json (the contract), slack or discord",
  },
  {
    env: "WINDOW_SIZE",
    flag: "window",
    type: "duration",
    default: 60_000,
    min: 1000,
    help: "window length",
  },
  {
    env: "WINDOW_SLIDE",
    flag: "slide",
    type: "duration",
    default: 10_000,
    min: 1000,
    help: "window slide",
  },
  {
    env: "OUT_OF_ORDER",
    flag: "out-of-order",
    type: "duration",
    default: 5000,
    min: 0,
    help: "allowed out-of-orderness of event time",
  },
  {
    env: "ALERT_LOCK_TTL",
    flag: "lock-ttl",
    type: "duration",
    default: 900_000,
    min: 1000,
    help: "Redis alert lock per (rule, entity)",
  },
  {
    env: "DETECTOR_EARLY_ALERTS",
    flag: "early-alerts",
    type: "bool",
    default: true,
    help: "fire on open windows when a rule already holds (false: only when windows close)",
  },
  {
    env: "DETECTOR_SABOTAGE",
    flag: "sabotage",
    type: "string",
    default: "none",
    help: "SABOTAGE for tests of the grader: none, spam (every rule, entity and window), " +
      "block (the old incident address blocks), ledger (the harness's ledger in the bucket), " +
      "wide-window (windows [0, 2^53-1]), backdate (fired_at_ms 10 min early)",
  },
  GENERATOR_KNOBS.find((k) => k.env === "METRICS_PORT")!,
];
