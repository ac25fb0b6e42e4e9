/**
 * The state of the local stacks: one JSON file per named stack,
 * `<state dir>/stacks/<name>/stack.json` (mode 0600: it holds the stack's
 * keys and its Kafka users' passwords), written once the stack is up and read by `attach`, `down`, the
 * pipeline's `--stack` and the port check.
 * @module
 */

import { join } from "node:path";
import { EnvironmentError } from "../lib/exit_codes.ts";
import type { Endpoints } from "../pipeline/endpoints.ts";
import type { KafkaSettings } from "./kafka_config.ts";
import { stateDir } from "./paths.ts";
import { allPorts, portPlan } from "./ports.ts";
import type { ProcessSpec } from "./process_node.ts";
import type { KafkaUsers } from "./kafka_scram.ts";
import type { RedisUsers } from "./redis_acl.ts";

export type Owner = "process" | "detached";

export interface StackState {
  name: string;
  basePort: number;
  brokers: number;
  kafka: KafkaSettings;
  dataDir: string;
  owner: Owner;
  ownerPid: number;
  watchdogPid?: number;
  endpoints: Endpoints;
  /** The SCRAM users made at format time (kafka_scram.ts); none: a stack from before them. */
  kafkaUsers?: KafkaUsers;
  /** The Redis users' passwords (redis_acl.ts); none: a stack from before them (no auth). */
  redisUsers?: RedisUsers;
  nodes: ProcessSpec[];
  createdAt: string;
  healthyAt?: string;
}

export class StackError extends EnvironmentError {
  override name = "StackError";
}

export function stateFile(name: string): string {
  return join(stateDir(), "stacks", name, "stack.json");
}

export async function readState(name: string): Promise<StackState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(stateFile(name))) as StackState;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new StackError(`Cannot read the state of stack "${name}" (${stateFile(name)})`, {
      cause: error,
    });
  }
}

export async function writeState(state: StackState): Promise<void> {
  const file = stateFile(state.name);
  await Deno.mkdir(join(file, ".."), { recursive: true });
  await Deno.writeTextFile(`${file}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  await Deno.rename(`${file}.tmp`, file);
}

/** The name of a recorded stack whose ports include one of `ports`. */
export async function stackHolding(ports: number[]): Promise<string | undefined> {
  try {
    for await (const entry of Deno.readDir(join(stateDir(), "stacks"))) {
      const state = await readState(entry.name).catch(() => undefined);
      if (!state) continue;
      const mine = new Set(allPorts(portPlan(state.basePort, state.brokers)));
      if (ports.some((p) => mine.has(p))) return state.name;
    }
  } catch { /* no state folder */ }
  return undefined;
}
