/**
 * `deno task provision`: provisions every binary the stacks need into the
 * cache (see `provision.ts`) and prints where they are.
 * @module
 */
import { describe, provision } from "./provision.ts";
import { runMain } from "../lib/exit_codes.ts";
import { parseFlags } from "../lib/cli.ts";

const USAGE = `usage: deno task provision

Downloads or builds what the stacks need (Kafka's jars from Maven Central,
MinIO and Toxiproxy with go install, Redis and Java from Debian) into the cache
(\$CHAOS_CACHE_DIR, default ~/.cache/chaos-harness) and prints where each is.
Takes no flags; what is cached already is not fetched again.`;

if (import.meta.main) {
  await runMain(async () => {
    parseFlags(Deno.args, {}, USAGE);
    const started = performance.now();
    const bins = await provision();
    describe(bins);
    console.error(`provisioned in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  });
}
