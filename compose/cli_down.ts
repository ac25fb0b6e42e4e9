/**
 * `deno task down [--keep] [--name N]`: stops the named stack (default
 * "default") and removes its data, or keeps it with `--keep`.
 * @module
 */

import { ExitCode, runMain } from "../chaos/exit_codes.ts";
import { parseFlags } from "./_cli.ts";
import { downStack } from "./local_stack.ts";
import { say } from "./progress.ts";

const USAGE = "usage: deno task down [--keep] [--name NAME]";

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      keep: { type: "boolean", default: false },
      name: { type: "string", default: "default" },
      help: { type: "boolean", short: "h", default: false },
    }, USAGE);
    if (values.help) {
      console.log(USAGE);
      return ExitCode.Pass;
    }
    const started = performance.now();
    const stopped = await downStack(values.name, { keep: values.keep });
    if (stopped === undefined) {
      say(`no stack named "${values.name}" is running`);
    } else {
      const took = ((performance.now() - started) / 1000).toFixed(1);
      say(
        `stack "${values.name}" down in ${took} s (stopped ${stopped.length} node${
          stopped.length === 1 ? "" : "s"
        }${values.keep ? ", data kept" : ", data removed"})`,
      );
    }
    return ExitCode.Pass;
  });
}
