/**
 * Evidence that cannot be read is a finding, never a crash: every reader of a
 * run folder (results, history, ledger, samples, commits) throws
 * `UnreadableEvidenceError` naming the file, the line (or key path) and what
 * is wrong with it, and `validate --run` turns it into exit 1:
 * `unreadable evidence: samples.jsonl line 812: t: must be an epoch ms`.
 *
 * ```ts
 * import { jsonLines, UnreadableEvidenceError } from "./unreadable.ts";
 * for (const { line, value } of jsonLines("samples.jsonl", text)) { ... }
 * ```
 * @module
 */

import type { z } from "zod";
import { MAX_EPOCH_MS, printable } from "./printable.ts";

export { MAX_EPOCH_MS };

/** Longest excerpt of a bad value quoted in a message. */
const EXCERPT = 80;

/** A run folder's file that is not what the harness wrote (exit 1 in `validate --run`). */
export class UnreadableEvidenceError extends Error {
  override name = "UnreadableEvidenceError";
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly why: string,
    options?: ErrorOptions,
  ) {
    super(
      printable(
        `unreadable evidence: ${file}${line === null ? "" : ` line ${line}`}: ${why}`,
        1000,
      ),
      options,
    );
  }
}

/** An epoch ms the harness can have written: an integer a Date holds, not before 1970. */
export function isEpochMs(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= MAX_EPOCH_MS;
}

/** A short, quoted excerpt of `text` for a message. */
export function excerpt(text: string): string {
  return JSON.stringify(text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text);
}

/** The first problem of a failed zod parse, as `key.path: message`. */
export function zodProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue?.path.length ? `${issue.path.join(".")}: ` : "";
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : "";
  return `${path}${issue?.message ?? "invalid"}${more}`;
}

/**
 * The lines of a JSON-lines file, parsed with `schema`; blank lines are skipped. A line that is
 * not JSON or not of the schema throws `UnreadableEvidenceError` with its number.
 */
export function parseJsonLines<T extends z.ZodType>(
  file: string,
  text: string,
  schema: T,
): z.output<T>[] {
  const out: z.output<T>[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim()) continue;
    out.push(parseJson(file, line, schema, i + 1));
  }
  return out;
}

/** One JSON document (a whole file, or line `line` of one) parsed with `schema`. */
export function parseJson<T extends z.ZodType>(
  file: string,
  text: string,
  schema: T,
  line: number | null = null,
): z.output<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UnreadableEvidenceError(
      file,
      line ?? lineOf(text, error as Error),
      `not JSON: ${line === null ? (error as Error).message : excerpt(text)}`,
      { cause: error },
    );
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new UnreadableEvidenceError(file, line, zodProblem(parsed.error));
  return parsed.data;
}

/** The line of a JSON syntax error, from the position V8 gives (null when it gives none). */
function lineOf(text: string, error: Error): number | null {
  const at = /position (\d+)/.exec(error.message);
  if (!at) return null;
  return text.slice(0, Number(at[1])).split("\n").length;
}
