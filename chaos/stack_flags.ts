/**
 * The flags that choose a run's stack, shared by `scenario`, `nightly` and
 * `grade`: `--stack local|docker|external`, and for an external cluster
 * `--endpoints <file>` (compose/external_endpoints.ts) and `--keep-topic`.
 * Every mistake is a UsageError (exit 2).
 * @module
 */

import { readExternalEndpoints } from "../compose/external_endpoints.ts";
import { STACK_KINDS, type StackKind } from "../compose/stack.ts";
import { UsageError } from "../lib/exit_codes.ts";
import type { ExternalOptions } from "./run_stack.ts";

export const STACK_FLAGS = {
  stack: { type: "string", default: "local" },
  endpoints: { type: "string" },
  "keep-topic": { type: "boolean", default: false },
} as const;

export const STACK_USAGE = "[--stack local|docker|external --endpoints FILE [--keep-topic]]";

/** The stack the flags ask for, with the endpoints file read and checked for an external one. */
export async function stackChoice(
  values: { stack: string; endpoints?: string; "keep-topic": boolean },
): Promise<{ kind: StackKind; external?: ExternalOptions }> {
  if (!(STACK_KINDS as readonly string[]).includes(values.stack)) {
    throw new UsageError(`--stack must be ${STACK_KINDS.join(", ")}; got "${values.stack}"`);
  }
  const kind = values.stack as StackKind;
  if (kind !== "external") {
    if (values.endpoints !== undefined || values["keep-topic"]) {
      throw new UsageError("--endpoints and --keep-topic are for --stack external");
    }
    return { kind };
  }
  if (values.endpoints === undefined) {
    throw new UsageError(
      "--stack external needs --endpoints <file> (the JSON `deno task up --json` prints, " +
        "plus nodes: see docs/stacks.md)",
    );
  }
  return {
    kind,
    external: {
      endpoints: await readExternalEndpoints(values.endpoints),
      keepTopic: values["keep-topic"],
    },
  };
}
