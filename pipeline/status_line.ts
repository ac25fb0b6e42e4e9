/**
 * A one-line live status on stderr: rewritten in place on a terminal, printed
 * every `everyMs` (default 10 s) otherwise, silent with `CHAOS_QUIET=1`.
 *
 * ```ts
 * const line = new StatusLine();
 * line.show("gen 12s | acked 19873 ev/s");
 * line.clear();
 * ```
 * @module
 */

const enc = new TextEncoder();

export class StatusLine {
  readonly #tty = Deno.stderr.isTerminal();
  readonly #quiet = Deno.env.get("CHAOS_QUIET") === "1";
  readonly #everyMs: number;
  #last = 0;
  #shown = false;

  constructor(options: { everyMs?: number } = {}) {
    this.#everyMs = options.everyMs ?? 10_000;
  }

  show(text: string): void {
    if (this.#quiet) return;
    if (this.#tty) {
      const width = Deno.consoleSize?.().columns ?? 160;
      Deno.stderr.writeSync(enc.encode(`\r\x1b[2K${text.slice(0, width - 1)}`));
      this.#shown = true;
    } else if (performance.now() - this.#last >= this.#everyMs) {
      this.#last = performance.now();
      Deno.stderr.writeSync(enc.encode(text + "\n"));
    }
  }

  clear(): void {
    if (this.#tty && this.#shown) Deno.stderr.writeSync(enc.encode("\r\x1b[2K"));
    this.#shown = false;
  }
}
