/**
 * Kafka's security, from the environment (the pipeline contract): SASL and
 * TLS for a cluster that asks for them. Every Kafka client of the pipeline and
 * of the harness reads it here, so one set of variables secures them all:
 *
 * | variable               | meaning                                                       |
 * | ---------------------- | ------------------------------------------------------------- |
 * | `KAFKA_SASL_MECHANISM` | `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (none: no SASL)   |
 * | `KAFKA_SASL_USERNAME`  | the user                                                      |
 * | `KAFKA_SASL_PASSWORD`  | its password (a secret: from the environment only)            |
 * | `KAFKA_TLS`            | `true`: connect with TLS                                      |
 * | `KAFKA_TLS_CA_FILE`    | a PEM file of the CAs to trust (default: the system's)        |
 *
 * A stack may hand this process a user for its own addresses instead (`useSecurityFor`: the
 * local stack's SCRAM harness user, compose/kafka_scram.ts); clients ask `securityFor(brokers)`.
 *
 * ```ts
 * import { kafkaSecurity, kafkajsSecurity } from "./kafka_security.ts";
 * const { ssl, sasl } = kafkajsSecurity(kafkaSecurity());
 * ```
 * @module
 */

import type { KafkaConfig, SASLOptions } from "kafkajs";

export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;
export type SaslMechanism = typeof SASL_MECHANISMS[number];

export interface KafkaSecurity {
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  tls?: { caFile?: string };
}

/** The security the environment asks for; throws naming the variable when it is incomplete. */
export function kafkaSecurity(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): KafkaSecurity {
  const security: KafkaSecurity = {};
  const mechanism = env.KAFKA_SASL_MECHANISM?.toUpperCase();
  if (mechanism) {
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new Error(
        `KAFKA_SASL_MECHANISM must be ${SASL_MECHANISMS.join(", ")}; got "${mechanism}"`,
      );
    }
    const username = env.KAFKA_SASL_USERNAME;
    const password = env.KAFKA_SASL_PASSWORD;
    if (!username || password === undefined) {
      throw new Error("KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD");
    }
    security.sasl = { mechanism: mechanism as SaslMechanism, username, password };
  }
  if (env.KAFKA_TLS === "true" || env.KAFKA_TLS_CA_FILE) {
    security.tls = env.KAFKA_TLS_CA_FILE ? { caFile: env.KAFKA_TLS_CA_FILE } : {};
  }
  return security;
}

/** The security of the clusters this process knows by address (`useSecurityFor`). */
const byAddress = new Map<string, KafkaSecurity>();

/**
 * Makes every Kafka client of this process that connects to one of `addresses` (host:port) use
 * `security`, whatever the environment says: a stack that hands its clients their credentials
 * (the local stack's SCRAM user of the harness), several stacks in one process each with its own.
 */
export function useSecurityFor(addresses: readonly string[], security: KafkaSecurity): void {
  for (const address of addresses) byAddress.set(address, security);
}

/** Forgets what `useSecurityFor` said of `addresses` (a stack gone). */
export function forgetSecurityFor(addresses: readonly string[]): void {
  for (const address of addresses) byAddress.delete(address);
}

/**
 * The security a client of `brokers` (host:port list or array) connects with: the one
 * `useSecurityFor` gave one of them, else the environment's (`kafkaSecurity`).
 */
export function securityFor(
  brokers: string | readonly string[],
  env: Record<string, string | undefined> = Deno.env.toObject(),
): KafkaSecurity {
  const list = typeof brokers === "string" ? brokers.split(",") : brokers;
  for (const address of list) {
    const known = byAddress.get(address.trim());
    if (known) return known;
  }
  return kafkaSecurity(env);
}

/** The variables that give a child process `security` (the inverse of `kafkaSecurity`). */
export function securityEnv(security: KafkaSecurity): Record<string, string> {
  const env: Record<string, string> = {};
  if (security.sasl) {
    env.KAFKA_SASL_MECHANISM = security.sasl.mechanism;
    env.KAFKA_SASL_USERNAME = security.sasl.username;
    env.KAFKA_SASL_PASSWORD = security.sasl.password;
  }
  if (security.tls) {
    env.KAFKA_TLS = "true";
    if (security.tls.caFile) env.KAFKA_TLS_CA_FILE = security.tls.caFile;
  }
  return env;
}

function ca(security: KafkaSecurity): string[] | undefined {
  return security.tls?.caFile ? [Deno.readTextFileSync(security.tls.caFile)] : undefined;
}

/** kafkajs's `ssl` and `sasl` options. */
export function kafkajsSecurity(security: KafkaSecurity): Pick<KafkaConfig, "ssl" | "sasl"> {
  const sasl = security.sasl;
  return {
    ...(security.tls ? { ssl: { ca: ca(security) } } : {}),
    ...(sasl
      ? {
        sasl: {
          mechanism: sasl.mechanism.toLowerCase(),
          username: sasl.username,
          password: sasl.password,
        } as SASLOptions,
      }
      : {}),
  };
}

/** @platformatic/kafka's `tls` and `sasl` options. */
export function platformaticSecurity(security: KafkaSecurity) {
  return {
    ...(security.tls ? { tls: { ca: ca(security) } } : {}),
    ...(security.sasl ? { sasl: { ...security.sasl } } : {}),
  };
}

/** The client properties of Kafka's own tools (`--command-config`), or undefined for none. */
export function kafkaToolProperties(security: KafkaSecurity): string | undefined {
  const { sasl, tls } = security;
  if (!sasl && !tls) return undefined;
  const lines = [`security.protocol=${sasl ? (tls ? "SASL_SSL" : "SASL_PLAINTEXT") : "SSL"}`];
  if (sasl) {
    const module = sasl.mechanism === "PLAIN"
      ? "org.apache.kafka.common.security.plain.PlainLoginModule"
      : "org.apache.kafka.common.security.scram.ScramLoginModule";
    const quote = (s: string) => JSON.stringify(s);
    lines.push(
      `sasl.mechanism=${sasl.mechanism}`,
      `sasl.jaas.config=${module} required username=${quote(sasl.username)} password=${
        quote(sasl.password)
      };`,
    );
  }
  if (tls?.caFile) {
    lines.push("ssl.truststore.type=PEM", `ssl.truststore.location=${tls.caFile}`);
  }
  return lines.join("\n") + "\n";
}
