/**
 * `deno task down [--keep] [--name N] [--stack docker]`: stops the named stack
 * (default "default") and removes its data, or keeps it with `--keep`. With
 * `--stack docker`, removes every container, helper and network labelled with
 * that name (what a docker run left, e.g. after a SIGKILL).
 * @module
 */

import { ExitCode, runMain, UsageError } from "../chaos/exit_codes.ts";
import { downDockerStack } from "./docker_stack.ts";
import { parseFlags } from "./_cli.ts";
import { downStack } from "./local_stack.ts";
import { say } from "./progress.ts";

const USAGE = "usage: deno task down [--keep] [--name NAME] [--stack local|docker]";

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      keep: { type: "boolean", default: false },
      name: { type: "string", default: "default" },
      stack: { type: "string", default: "local" },
      help: { type: "boolean", short: "h", default: false },
    }, USAGE);
    if (values.help) {
      console.log(USAGE);
      return ExitCode.Pass;
    }
    if (values.stack === "docker") {
      const removed = await downDockerStack(values.name);
      say(
        removed.length
          ? `removed ${removed.join(", ")}`
          : `nothing labelled with stack "${values.name}" on the engine`,
      );
      return ExitCode.Pass;
    }
    if (values.stack !== "local") {
      throw new UsageError(`--stack must be local or docker, got "${values.stack}"`);
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
