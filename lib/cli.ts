/**
 * Flag parsing shared by the harness's commands: `node:util` `parseArgs`
 * in strict mode, with errors turned into `UsageError` (exit code 2).
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { HelpRequested, UsageError } from "./exit_codes.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses `args` strictly; unknown flags and bad values are `UsageError`s.
 * `--help` or `-h` anywhere before `--` throws `HelpRequested` with `usage`
 * (`runMain` prints it and exits 0), whether or not `options` declares it.
 */
export function parseFlags<T extends Options>(args: string[], options: T, usage: string) {
  const end = args.indexOf("--");
  if ((end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h")) {
    throw new HelpRequested(usage);
  }
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
