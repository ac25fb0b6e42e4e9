/**
 * `deno task provision`: provisions every binary the stacks need into the
 * cache (see `provision.ts`) and prints where they are.
 * @module
 */
import { describe, provision } from "./provision.ts";
import { runMain } from "../lib/exit_codes.ts";

if (import.meta.main) {
  await runMain(async () => {
    const started = performance.now();
    const bins = await provision();
    describe(bins);
    console.error(`provisioned in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  });
}
