/**
 * The running stack of a name, whichever kind: the local stack's state file
 * first, then a docker stack's (`deno task up --stack docker`). For the
 * commands that act on a stack someone else started (`fault`, `down`).
 * @module
 */

import { DockerStack } from "./docker_stack.ts";
import { readDockerState } from "./docker_state.ts";
import { LocalStack } from "./local_stack.ts";
import type { Stack, StackKind } from "./stack.ts";

export async function attachStack(name: string): Promise<Stack | undefined> {
  return await LocalStack.attach(name) ?? await DockerStack.attach(name);
}

/** The kind of the stack `up` left under `name`, without touching it; undefined for none. */
export async function stackKindOf(name: string): Promise<StackKind | undefined> {
  if (await LocalStack.attach(name)) return "local";
  return (await readDockerState(name)) ? "docker" : undefined;
}
