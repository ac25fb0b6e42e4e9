/**
 * What the pipeline's commands share: flags built from a knob table (plus
 * `--stack` and `--help`), and defaults taken from the running local stack for
 * whatever the knobs and the environment leave unset.
 * @module
 */

import { UsageError } from "../chaos/exit_codes.ts";
import { parseFlags } from "../compose/_cli.ts";
import { LocalStack } from "../compose/local_stack.ts";
import type { Endpoints } from "../compose/endpoints.ts";
import { type Knob, type KnobValue, resolveKnobs } from "./knobs.ts";

type ExtraFlags = Record<
  string,
  { type: "string" | "boolean"; multiple?: boolean; default?: string }
>;

/**
 * Parses `args` into knob values (flags beat the environment), plus the values
 * of `extra` flags. Returns undefined after printing `usage` for `--help`.
 */
export function parseKnobArgs(
  args: string[],
  knobs: readonly Knob[],
  usage: string,
  extra: ExtraFlags = {},
): { knobs: Record<string, KnobValue>; flags: Record<string, unknown>; stack: string } | undefined {
  const defs = Object.fromEntries(
    knobs.map((k) => [k.flag, { type: k.type === "bool" ? "boolean" : "string" }] as const),
  );
  const { values } = parseFlags(
    args,
    {
      ...defs,
      ...extra,
      stack: { type: "string", default: "default" },
      help: { type: "boolean", short: "h" },
    } as Parameters<typeof parseFlags>[1],
    usage,
  );
  if (values.help) {
    console.log(usage);
    return undefined;
  }
  const resolved = resolveKnobs(knobs, {
    flags: values as Record<string, string | boolean | undefined>,
    env: Deno.env.toObject(),
  });
  return { knobs: resolved, flags: values, stack: values.stack as string };
}

/** The endpoints of the named running stack, or a UsageError saying how to get one. */
export async function stackEndpoints(name: string, missing: string): Promise<Endpoints> {
  const stack = await LocalStack.attach(name);
  if (!stack) {
    throw new UsageError(`no ${missing}: set them, or start a stack with: deno task up`);
  }
  return stack.endpoints;
}
