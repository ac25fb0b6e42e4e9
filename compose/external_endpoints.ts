/**
 * The endpoints file of `--stack external`: what `deno task up --json` prints
 * (Kafka's bootstrap, the S3 store, Redis, optionally Toxiproxy) plus `nodes`,
 * how each node of the cluster can be acted on: the Docker container it runs
 * in, on which engine (`docker_host`, so brokers may sit on different hosts),
 * and the Toxiproxy proxies in front of its listeners.
 *
 * ```json
 * {"kafka":{"bootstrap":"10.0.0.5:9092,10.0.0.6:9092"},
 *  "s3":{"endpoint":"http://10.0.0.7:9000","accessKey":"…","secretKey":"…","bucket":"telemetry"},
 *  "redis":{"url":"redis://10.0.0.8:6379"},
 *  "toxiproxy":{"api":"http://10.0.0.9:8474"},
 *  "nodes":{
 *    "kafka-1":{"container":"kafka-1","docker_host":"tcp://10.0.0.5:2375",
 *               "proxies":{"client":"kafka-1-client","quorum":{"2":"kafka-1-to-2-controller"}}},
 *    "minio":{"container":"minio","docker_host":"tcp://10.0.0.7:2375"}}}
 * ```
 *
 * Broker nodes are named `kafka-<node.id>` after the broker's own id. A node
 * left out can still be aimed at by what acts through Kafka (targets) but not
 * by a fault: which faults the file supports is decided per node before a run
 * (`externalProblems`, chaos/faults/mod.ts). `kafka.sasl` and `kafka.tls` secure
 * every Kafka client of the run, the pipeline's included (its contract's
 * `KAFKA_SASL_*` and `KAFKA_TLS*` variables).
 * @module
 */

import { z } from "zod";
import { parseStrict } from "../lib/parse_strict.ts";
import { UsageError } from "../lib/exit_codes.ts";
import { type KafkaSecurity, SASL_MECHANISMS, securityEnv } from "../pipeline/kafka_security.ts";

const url = (what: string) =>
  z.string().refine((s) => URL.canParse(s), { message: `must be a URL (${what})` });

const Proxies = z.strictObject({
  client: z.string().min(1).optional(),
  internal: z.string().min(1).optional(),
  controller: z.string().min(1).optional(),
  /** The proxy this broker reaches each peer's controller listener through, by the peer's id. */
  quorum: z.record(z.string().regex(/^\d+$/, "must be a broker id"), z.string().min(1))
    .optional(),
});

const Node = z.strictObject({
  /** Container name or id. */
  container: z.string().min(1).optional(),
  /** The engine the container runs on (`unix:///…` or `tcp://host:port`); default `$DOCKER_HOST`. */
  docker_host: z.string().regex(/^(unix|tcp|npipe):\/\/.+/, "must be unix://… or tcp://host:port")
    .optional(),
  proxies: Proxies.optional(),
});

/** The nodes an endpoints file may name (the harness's own proxies are not among them). */
export const NODE_NAME = /^(kafka-\d+|minio|redis|toxiproxy)$/;

export const ExternalEndpointsSchema = z.strictObject({
  kafka: z.strictObject({
    bootstrap: z.string().regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, "must be host:port,host:port,…"),
    /** `true`, or the CAs to trust: a PEM file. */
    tls: z.union([z.literal(true), z.strictObject({ ca_file: z.string().min(1) })]).optional(),
    sasl: z.strictObject({
      mechanism: z.enum(SASL_MECHANISMS),
      username: z.string().min(1),
      /** Default: `$KAFKA_SASL_PASSWORD` (a secret is best kept out of files). */
      password: z.string().optional(),
    }).optional(),
  }),
  s3: z.strictObject({
    endpoint: url("http://host:port"),
    accessKey: z.string().min(1),
    secretKey: z.string().min(1),
    bucket: z.string().min(3),
    tls: z.unknown().optional(),
  }),
  redis: z.strictObject({ url: url("redis://host:port") }),
  toxiproxy: z.strictObject({ api: url("http://host:8474") }).optional(),
  nodes: z.record(
    z.string().regex(NODE_NAME, "node names are kafka-<id>, minio, redis or toxiproxy"),
    Node,
  ).default({}),
});

export type ExternalEndpoints = z.output<typeof ExternalEndpointsSchema>;
export type ExternalNode = z.output<typeof Node>;

/** Validates an endpoints file's content: every problem with its key path (exit 2). */
export function parseExternalEndpoints(input: unknown, source: string): ExternalEndpoints {
  const endpoints = parseStrict(ExternalEndpointsSchema, input, source);
  if (endpoints.s3.tls !== undefined) {
    throw new UsageError(
      `${source}: s3.tls: an https:// endpoint is TLS already; a CA of your own goes in ` +
        "DENO_CERT (a PEM file) in the environment",
    );
  }
  const sasl = endpoints.kafka.sasl;
  if (sasl && sasl.password === undefined && Deno.env.get("KAFKA_SASL_PASSWORD") === undefined) {
    throw new UsageError(
      `${source}: kafka.sasl has no password, and KAFKA_SASL_PASSWORD is not set either`,
    );
  }
  return endpoints;
}

/** The Kafka security an endpoints file asks for (the password from the environment if not in it). */
export function securityOf(endpoints: ExternalEndpoints): KafkaSecurity {
  const { sasl, tls } = endpoints.kafka;
  return {
    ...(sasl
      ? {
        sasl: {
          mechanism: sasl.mechanism,
          username: sasl.username,
          password: sasl.password ?? Deno.env.get("KAFKA_SASL_PASSWORD") ?? "",
        },
      }
      : {}),
    ...(tls ? { tls: tls === true ? {} : { caFile: tls.ca_file } } : {}),
  };
}

/**
 * Makes every Kafka client of this process, and of the processes it starts with the contract's
 * environment, use the file's SASL and TLS (pipeline/kafka_security.ts reads the environment).
 */
export function adoptKafkaSecurity(endpoints: ExternalEndpoints): void {
  for (const [key, value] of Object.entries(securityEnv(securityOf(endpoints)))) {
    Deno.env.set(key, value);
  }
}

/** Reads and validates `--endpoints <file>` (exit 2 when missing, not JSON or invalid). */
export async function readExternalEndpoints(file: string): Promise<ExternalEndpoints> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new UsageError(`--endpoints ${file}: ${(error as Error).message}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--endpoints ${file}: not JSON: ${(error as Error).message}`);
  }
  return parseExternalEndpoints(input, file);
}
