/**
 * `deno task up [--json] [--name N] [--base-port P] [--brokers 3]`
 *
 * Starts the local stack and leaves it running (stop it with `deno task
 * down`). If a stack of that name already runs, starts nothing and prints its
 * endpoints. With `--json`, stdout is exactly one JSON object (see
 * `endpoints.ts`); progress always goes to stderr.
 * @module
 */

import { ExitCode, InterruptedError, runMain } from "../lib/exit_codes.ts";
import { intFlag, parseFlags } from "../lib/cli.ts";
import { LocalStack } from "./local_stack.ts";
import { say } from "../lib/progress.ts";

const USAGE = "usage: deno task up [--json] [--name NAME] [--base-port PORT] [--brokers N]";

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      json: { type: "boolean", default: false },
      name: { type: "string", default: "default" },
      "base-port": { type: "string" },
      brokers: { type: "string" },
    }, USAGE);
    const abort = new AbortController();
    const onSignal = () => abort.abort(new InterruptedError("SIGINT"));
    Deno.addSignalListener("SIGINT", onSignal);
    let stack: LocalStack;
    try {
      stack = await LocalStack.up({
        name: values.name,
        basePort: intFlag("base-port", values["base-port"], { min: 1024, max: 65335 }),
        brokers: intFlag("brokers", values.brokers, { min: 1, max: 9 }),
        owner: "detached",
        signal: abort.signal,
      });
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
    }
    await stack.detach();
    if (values.json) {
      console.log(JSON.stringify(stack.endpoints));
    } else {
      const e = stack.endpoints;
      say(
        stack.reused ? `stack "${stack.name}" is already running:` : `stack "${stack.name}" is up:`,
      );
      console.log(`kafka      ${e.kafka.bootstrap}`);
      console.log(`s3         ${e.s3.endpoint} bucket=${e.s3.bucket} (keys: deno task up --json)`);
      console.log(`redis      ${e.redis.url}`);
      console.log(`toxiproxy  ${e.toxiproxy.api}`);
      console.log(`logs       ${stack.dataDir}/logs`);
    }
    return ExitCode.Pass;
  });
}
