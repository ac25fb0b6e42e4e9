/**
 * Reading `deno test`'s output as it streams, for the suite runner (run_tests.ts): the names of
 * the failed tests (from the ` FAILURES ` section deno prints at the end), so that the last lines
 * of a CI log name them even when a flood of other lines came before; and a filter that folds a
 * line repeated many times in a row into one count, so that such a flood cannot push the
 * failures out of a log's tail.
 *
 * ```ts
 * import { FailureNames, RepeatFolder } from "./test_output.ts";
 * const failures = new FailureNames();
 * failures.line(" FAILURES ");
 * failures.line("a test => ./chaos/a_test.ts:10:6");
 * failures.names; // ["a test (chaos/a_test.ts:10)"]
 * const fold = new RepeatFolder(3);
 * ["x", "x", "x", "x", "x", "y"].flatMap((l) => fold.line(l)); // x, x, x, "(the line above 2 more times)", y
 * ```
 * @module
 */

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Collects the failed tests' names from deno test's closing ` FAILURES ` section. */
export class FailureNames {
  #inSection = false;
  readonly names: string[] = [];

  line(raw: string): void {
    const line = raw.replace(ANSI, "").trimEnd();
    if (line.trim() === "FAILURES") {
      this.#inSection = true;
      return;
    }
    if (!this.#inSection) return;
    if (/^(ok|FAILED) \|/.test(line.trim())) {
      this.#inSection = false;
      return;
    }
    const m = line.match(/^(.+) => \.?\/?(\S+?):(\d+):\d+$/);
    if (m) this.names.push(`${m[1]} (${m[2]}:${m[3]})`);
  }
}

/**
 * Passes lines through, but after `keep` identical lines in a row holds the rest back and says
 * how many there were when a different line (or the end, `flush`) comes.
 */
export class RepeatFolder {
  #last: string | undefined;
  #run = 0;

  constructor(readonly keep = 3) {}

  /** The lines to print now for `line`. */
  line(line: string): string[] {
    if (line === this.#last) {
      this.#run++;
      return this.#run <= this.keep ? [line] : [];
    }
    const out = this.flush();
    this.#last = line;
    this.#run = 1;
    out.push(line);
    return out;
  }

  /** The count of held-back lines, if any (call at the end). */
  flush(): string[] {
    const held = this.#run - this.keep;
    this.#run = Math.min(this.#run, this.keep);
    return held > 0 ? [`(the line above ${held} more time${held === 1 ? "" : "s"})`] : [];
  }
}
