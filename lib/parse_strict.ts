/**
 * Parses input with a zod schema, or throws a UsageError (exit 2) that lists
 * every problem with its key path: the one way scenario files, submissions
 * and endpoints files report what is wrong with them.
 * @module
 */

import type { z } from "zod";
import { UsageError } from "./exit_codes.ts";

/** Parses `input` with `schema`, or throws a UsageError listing every problem with its key path. */
export function parseStrict<T extends z.ZodType>(
  schema: T,
  input: unknown,
  source: string,
): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join(".") : "(root)";
    const keys = issue.code === "unrecognized_keys" ? ` (${issue.keys.join(", ")})` : "";
    return `  ${path}: ${issue.message}${keys}`;
  });
  throw new UsageError(`${source} is invalid:\n${lines.join("\n")}`);
}
