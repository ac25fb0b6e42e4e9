/**
 * Progress lines for long work, written to stderr so that stdout stays clean
 * for machine-readable output (`deno task up --json`).
 *
 * On a terminal the line is rewritten in place; elsewhere (CI, pipes) a line is
 * printed at most every `everyMs` milliseconds, plus the final one.
 *
 * ```ts
 * import { Progress } from "./progress.ts";
 * const p = new Progress("kafka jars");
 * p.update("12/53 jars, 18.2 MB");
 * p.done("53 jars, 44 MB in 9.1 s");
 * ```
 * @module
 */

const encoder = new TextEncoder();

export interface ProgressOptions {
  /** Minimum time between two lines when stderr is not a terminal. Default 5000. */
  everyMs?: number;
  /** Print nothing (tests). Default: `CHAOS_QUIET=1` in the environment. */
  quiet?: boolean;
}

export class Progress {
  readonly #label: string;
  readonly #tty: boolean;
  readonly #everyMs: number;
  readonly #quiet: boolean;
  #lastPrint = 0;
  #started = performance.now();

  constructor(label: string, options: ProgressOptions = {}) {
    this.#label = label;
    this.#tty = Deno.stderr.isTerminal();
    this.#everyMs = options.everyMs ?? 5000;
    this.#quiet = options.quiet ?? Deno.env.get("CHAOS_QUIET") === "1";
  }

  /** Seconds since this progress was created. */
  elapsedS(): number {
    return (performance.now() - this.#started) / 1000;
  }

  update(text: string): void {
    if (this.#quiet) return;
    const now = performance.now();
    if (this.#tty) {
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${this.#label}: ${text}`));
    } else if (now - this.#lastPrint >= this.#everyMs) {
      this.#lastPrint = now;
      Deno.stderr.writeSync(encoder.encode(`${this.#label}: ${text}\n`));
    }
  }

  done(text: string): void {
    if (this.#quiet) return;
    const prefix = this.#tty ? "\r\x1b[2K" : "";
    Deno.stderr.writeSync(encoder.encode(`${prefix}${this.#label}: ${text}\n`));
  }
}

/** Prints one line to stderr unless `CHAOS_QUIET=1`. */
export function say(text: string): void {
  if (Deno.env.get("CHAOS_QUIET") === "1") return;
  Deno.stderr.writeSync(encoder.encode(text + "\n"));
}
