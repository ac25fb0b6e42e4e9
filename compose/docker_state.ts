/**
 * The state file of a docker stack started with `deno task up --stack docker`,
 * which outlives the command: `<stateDir>/stacks/<name>/docker.json`, what
 * `DockerStack.attach` needs to act on it again (game days: `deno task fault`;
 * `deno task down --stack docker`). It holds the endpoints, S3 keys included:
 * the state folder is the user's own, like the local stack's `stack.json`.
 * @module
 */

import { join } from "node:path";
import type { Endpoints } from "../pipeline/endpoints.ts";
import type { Images } from "./images.ts";
import type { KafkaSettings } from "./kafka_config.ts";
import type { ProcessSpec } from "./process_node.ts";
import { stateDir } from "./paths.ts";

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
  await Deno.writeTextFile(dockerStateFile(state.name), JSON.stringify(state, null, 2) + "\n", {
    mode: 0o600,
  });
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
