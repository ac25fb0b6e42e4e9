/**
 * Verdicts: every checker returns `pass`, `fail` or `unknown`; combined, fail
 * beats unknown beats pass. A run that could not prove anything is `unknown`.
 *
 * ```ts
 * import { combine } from "./verdict.ts";
 * combine(["pass", "unknown"]); // "unknown"
 * ```
 * @module
 */

export type Verdict = "pass" | "fail" | "unknown";

export function combine(verdicts: Iterable<Verdict>): Verdict {
  let out: Verdict = "pass";
  for (const v of verdicts) {
    if (v === "fail") return "fail";
    if (v === "unknown") out = "unknown";
  }
  return out;
}

/** Exit code of a verdict: pass 0, fail 1, unknown 3. */
export function exitCodeOf(verdict: Verdict): 0 | 1 | 3 {
  return verdict === "pass" ? 0 : verdict === "fail" ? 1 : 3;
}
