/**
 * The state file of a docker stack started with `deno task up --stack docker`,
 * which outlives the command: `<stateDir>/stacks/<name>/docker.json`, what
 * `DockerStack.attach` needs to act on it again (game days: `deno task fault`;
 * `deno task down --stack docker`). It holds the endpoints, S3 keys included,
 * and the stack's Kafka and Redis users' passwords: mode 0600, in the state
 * folder (the user's own, hidden from a graded pipeline's sandbox), like the
 * local stack's `stack.json`.
 * @module
 */

import { join } from "node:path";
import type { Endpoints } from "../pipeline/endpoints.ts";
import type { Images } from "./images.ts";
import type { KafkaSettings } from "./kafka_config.ts";
import type { ProcessSpec } from "./process_node.ts";
import { stateDir } from "./paths.ts";
import type { KafkaUsers } from "./kafka_scram.ts";
import type { RedisUsers } from "./redis_acl.ts";

export interface DockerStackState {
  kind: "docker";
  name: string;
  basePort: number;
  brokers: number;
  dataDir: string;
  endpoints: Endpoints;
  kafka: KafkaSettings;
  images: Images;
  netem: boolean;
  /** The SCRAM users made at format time (kafka_scram.ts); none: a PLAINTEXT stack. */
  kafkaUsers?: KafkaUsers;
  /** The Redis users' passwords (redis_acl.ts); none: a stack from before them. */
  redisUsers?: RedisUsers;
  /** The stack's processes on the host (the S3 and kafka proxies: docker_proxies.ts). */
  hostNodes?: ProcessSpec[];
  createdAt: string;
}

export function dockerStateFile(name: string): string {
  return join(stateDir(), "stacks", name, "docker.json");
}

export async function readDockerState(name: string): Promise<DockerStackState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(dockerStateFile(name))) as DockerStackState;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

export async function writeDockerState(state: DockerStackState): Promise<void> {
  await Deno.mkdir(join(dockerStateFile(state.name), ".."), { recursive: true });
  const file = dockerStateFile(state.name);
  await Deno.writeTextFile(`${file}.tmp`, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
  await Deno.chmod(`${file}.tmp`, 0o600); // a file left by a crash keeps its mode otherwise
  await Deno.rename(`${file}.tmp`, file);
}

/**
 * Removes the state file and, as the local stack's down does, the game-day records of the
 * name; the folder goes when nothing else is in it.
 */
export async function removeDockerState(name: string): Promise<void> {
  const file = dockerStateFile(name);
  try {
    await Deno.remove(file);
  } catch {
    return; // not a stack of `up --stack docker`
  }
  await Deno.remove(join(file, "..", "gameday"), { recursive: true }).catch(() => {});
  await Deno.remove(join(file, "..")).catch(() => {});
}
