/**
 * Debian's headless Chromium for the browser tests (installed with apt when missing): runs it
 * with a fresh profile and the flags that keep it quiet and offline, and picks out of its log
 * the lines a page's errors leave there.
 * @module
 */

import { ensureChromium } from "../compose/host_tools.ts";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--hide-scrollbars",
  "--enable-logging=stderr",
  "--v=0",
];

/** Runs Chromium with `args` (e.g. `--screenshot=…` or `--dump-dom`, then a URL) in `profile`. */
export async function chromium(args: string[], profile: string) {
  const bin = await ensureChromium();
  const out = await new Deno.Command(bin, {
    args: [...FLAGS, `--user-data-dir=${profile}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The lines of Chromium's log that a page's console output or errors wrote. */
export function pageErrors(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /CONSOLE|Uncaught|ERROR:.*(page|render)/i.test(l));
}
