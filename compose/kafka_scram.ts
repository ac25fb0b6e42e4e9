/**
 * The local stack's Kafka users: SCRAM-SHA-512 credentials made when the brokers' storage is
 * formatted (`StorageTool format --add-scram`), one for the harness (a super user: every Kafka
 * client of the harness) and one for each part of the pipeline (the generator, the sink, the
 * detector, and a combined pipeline that is both), each with a random password kept in the
 * stack's state file (mode 0600; a graded pipeline's sandbox hides the state dir). What each
 * component user may do is a run's ACLs (kafka_acl.ts); the brokers' side is kafka_config.ts.
 *
 * The passwords never go on a command line (any user of the host reads every process's in `ps`):
 * StorageTool gets its arguments from a Java argument file (`java @file`, `writeJavaArgFile`:
 * mode 0600, removed once it has run).
 *
 * ```ts
 * import { makeKafkaUsers, scramFormatArgs, writeJavaArgFile } from "./kafka_scram.ts";
 * const users = makeKafkaUsers();
 * const args = scramFormatArgs(users); // ["--add-scram", "SCRAM-SHA-512=[name=chaos-harness,…]", …]
 * await writeJavaArgFile("/state/kafka-1/format.args", ["-cp", cp, "kafka.tools.StorageTool", ...args]);
 * // java @/state/kafka-1/format.args
 * ```
 * @module
 */

import { randomHex } from "../lib/ids.ts";
import { type KafkaSecurity, securityFor } from "../pipeline/kafka_security.ts";
import type { PortPlan } from "./ports.ts";

/** The one mechanism the local stack's CLIENT listener takes. */
export const SCRAM_MECHANISM = "SCRAM-SHA-512" as const;

/** Who connects to the local stack's CLIENT listener. */
export const KAFKA_ROLES = ["harness", "generator", "sink", "detector", "pipeline"] as const;
export type KafkaRole = typeof KAFKA_ROLES[number];

export interface KafkaUser {
  username: string;
  password: string;
}

/** A stack's users, by role. */
export type KafkaUsers = Record<KafkaRole, KafkaUser>;

/** The user name of `role` (the same on every local stack; the passwords are the stack's own). */
export function kafkaUserName(role: KafkaRole): string {
  return `chaos-${role}`;
}

/** Fresh users with random passwords (hex: nothing StorageTool's `[name=…,password=…]` parses). */
export function makeKafkaUsers(random: () => string = () => randomHex(24)): KafkaUsers {
  return Object.fromEntries(
    KAFKA_ROLES.map((role) => [role, { username: kafkaUserName(role), password: random() }]),
  ) as KafkaUsers;
}

export class ScramUserError extends Error {
  override name = "ScramUserError";
}

/** StorageTool's `--add-scram` arguments, one pair per user. */
export function scramFormatArgs(users: KafkaUsers): string[] {
  return KAFKA_ROLES.flatMap((role) => {
    const { username, password } = users[role];
    // StorageTool splits on "," "=" "[" "]": a name or password with one of them would be cut.
    for (const value of [username, password]) {
      if (!/^[A-Za-z0-9_.-]+$/.test(value)) {
        throw new ScramUserError(`user ${role}: "${value}" cannot be given to StorageTool`);
      }
    }
    return ["--add-scram", `${SCRAM_MECHANISM}=[name=${username},password=${password}]`];
  });
}

/**
 * The text of a Java argument file (`java @file`): one argument a line, each in double quotes (a
 * backslash doubled), so that the launcher reads each back as it is. One with a double quote or a
 * line break is refused (ScramUserError): the file's syntax cannot hold it plainly. Pure.
 */
export function javaArgFile(args: readonly string[]): string {
  for (const arg of args) {
    if (/["\r\n]/.test(arg)) {
      throw new ScramUserError(`a Java argument file cannot hold ${JSON.stringify(arg)}`);
    }
  }
  return args.map((a) => `"${a.replaceAll("\\", "\\\\")}"\n`).join("");
}

/**
 * Writes `args` as a Java argument file at `path` (made anew, mode 0600: the harness's user only),
 * for `java @path`: they stay off the command line, which every user of the host can read.
 */
export async function writeJavaArgFile(path: string, args: readonly string[]): Promise<void> {
  const text = javaArgFile(args);
  await Deno.remove(path).catch(() => {});
  await Deno.writeTextFile(path, text, { mode: 0o600, createNew: true });
}

/** The security a client of `user` connects with (pipeline/kafka_security.ts). */
export function scramSecurity(user: KafkaUser): KafkaSecurity {
  return { sasl: { mechanism: SCRAM_MECHANISM, ...user } };
}

/**
 * Every address a client of the stack's brokers may be given (host 127.0.0.1): each broker's
 * CLIENT listener, its Toxiproxy proxy, and the kafka proxy's routes (the harness's and each
 * component's: compose/ports.ts). Never an INTERNAL or CONTROLLER port: those stay PLAINTEXT.
 */
export function clientAddresses(plan: PortPlan): string[] {
  return plan.brokers.flatMap((b) =>
    [
      b.client.real,
      b.client.proxy,
      b.kafkaProxy,
      b.kafkaProxy + 1,
      b.kafkaProxy + 2,
      b.kafkaProxy + 3,
    ]
      .map((port) => `127.0.0.1:${port}`)
  );
}

/**
 * The security a client in `role` gets on `stack`: its SCRAM user on a stack that has them (the
 * local stack), else the cluster's security as the harness has it (`securityFor`: an external
 * cluster's from its endpoints file; none on the docker stack).
 */
export function roleSecurity(
  stack: { kafkaUsers?: KafkaUsers; endpoints: { kafka: { bootstrap: string } } },
  role: KafkaRole,
): KafkaSecurity {
  return stack.kafkaUsers
    ? scramSecurity(stack.kafkaUsers[role])
    : securityFor(stack.endpoints.kafka.bootstrap);
}
