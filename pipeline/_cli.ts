/**
 * What the pipeline's commands share: flags built from a knob table (plus
 * `--stack` and `--help`), and defaults taken from the running local stack for
 * whatever the knobs and the environment leave unset.
 * @module
 */

import { UsageError } from "../lib/exit_codes.ts";
import { parseFlags } from "../lib/cli.ts";
import { fileURLToPath } from "node:url";
import type { Endpoints } from "./endpoints.ts";
import { useSecurityFor } from "./kafka_security.ts";
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

/** The repository's root: the pipeline's default output goes under its reports/runs/. */
export const repoRoot: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/**
 * The endpoints a running local stack publishes in its state file
 * (`$CHAOS_STATE_DIR`, default `<repo>/.chaos`, then `stacks/<name>/stack.json`,
 * key `endpoints`), or undefined without one. Reading the file, not the
 * harness's code, keeps the pipeline a program of its own.
 */
export async function runningStack(name: string): Promise<Endpoints | undefined> {
  const dir = Deno.env.get("CHAOS_STATE_DIR") ?? `${repoRoot}/.chaos`;
  const file = `${dir}/stacks/${name}/stack.json`;
  try {
    const { endpoints } = JSON.parse(await Deno.readTextFile(file)) as { endpoints: Endpoints };
    // The stack's user (the local stack's harness user): this process's clients of it use it.
    const sasl = endpoints.kafka.sasl;
    if (sasl?.password !== undefined) {
      useSecurityFor(endpoints.kafka.bootstrap.split(","), {
        sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password },
      });
    }
    return endpoints;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new UsageError(`cannot read the state of stack "${name}" (${file}): ${error}`);
  }
}

/** The endpoints of the named running stack, or a UsageError saying how to get one. */
export async function stackEndpoints(name: string, missing: string): Promise<Endpoints> {
  const endpoints = await runningStack(name);
  if (!endpoints) {
    throw new UsageError(`no ${missing}: set them, or start a stack with: deno task up`);
  }
  return endpoints;
}
