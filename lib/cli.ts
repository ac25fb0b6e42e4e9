/**
 * Flag parsing shared by the commands of `compose/`: `node:util` `parseArgs`
 * in strict mode, with errors turned into `UsageError` (exit code 2).
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./exit_codes.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `args` strictly; unknown flags and bad values are `UsageError`s. */
export function parseFlags<T extends Options>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${usage}`);
  }
}

/** Parses an integer flag, naming it in the error. */
export function intFlag(
  name: string,
  value: string | undefined,
  range: { min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    !Number.isInteger(n) || (range.min !== undefined && n < range.min) ||
    (range.max !== undefined && n > range.max)
  ) {
    const bounds = `${range.min ?? "-inf"}..${range.max ?? "inf"}`;
    throw new UsageError(`--${name} must be an integer in ${bounds}, got "${value}"`);
  }
  return n;
}
