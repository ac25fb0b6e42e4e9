/**
 * `deno task down [--keep] [--name N] [--stack docker]`: stops the named stack
 * (default "default"), local or docker (`up --stack docker`), and removes its
 * data, or keeps it with `--keep`. Faults still active from a game day
 * (`deno task fault`) are healed first. With `--stack docker` and no such
 * stack, removes every container, helper and network labelled with that name
 * (what a docker run left, e.g. after a SIGKILL).
 * @module
 */

import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { downDockerStack } from "./docker_network.ts";
import { parseFlags } from "../lib/cli.ts";
import { healActive } from "./gameday.ts";
import { downStack } from "./local_stack.ts";
import { stackKindOf } from "./attach.ts";
import { DockerStack } from "./docker_stack.ts";
import { say } from "../lib/progress.ts";

const USAGE = `usage: deno task down [--keep] [--purge] [--name NAME] [--stack local|docker]

Stops a stack. Its data is removed, but a run's stack (scenario --keep-stack)
leaves the store and logs in its run folder for validate --run; --purge removes
those too, --keep keeps everything.`;

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      keep: { type: "boolean", default: false },
      purge: { type: "boolean", default: false },
      name: { type: "string", default: "default" },
      stack: { type: "string", default: "local" },
    }, USAGE);
    if (values.stack !== "local" && values.stack !== "docker") {
      throw new UsageError(`--stack must be local or docker, got "${values.stack}"`);
    }
    const kind = await stackKindOf(values.name) ?? values.stack;
    if (kind === "docker") {
      const healed = await healActive(values.name);
      if (healed.length) say(`healed the game day's ${healed.join(", ")} first`);
      const stack = await DockerStack.attach(values.name);
      if (stack && !values.keep) {
        const started = performance.now();
        const stopped = await stack.down();
        const took = ((performance.now() - started) / 1000).toFixed(1);
        say(`docker stack "${values.name}" down in ${took} s (removed ${stopped.length} nodes)`);
        return ExitCode.Pass;
      }
      if (stack) {
        await stack.down({ keep: true });
        say(`docker stack "${values.name}" stopped, its containers and data kept`);
        return ExitCode.Pass;
      }
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
    // Faults injected by hand (deno task fault) are healed by their owners first.
    const healed = await healActive(values.name);
    if (healed.length) say(`healed the game day's ${healed.join(", ")} first`);
    const started = performance.now();
    const down = await downStack(values.name, { keep: values.keep, purge: values.purge });
    if (down === undefined) {
      say(`no stack named "${values.name}" is running`);
    } else {
      const took = ((performance.now() - started) / 1000).toFixed(1);
      const { stopped, retained } = down;
      const data = values.keep
        ? "data kept"
        : retained.length
        ? `data removed but the run folder's ${retained.join(" and ")} (--purge removes them)`
        : "data removed";
      say(
        `stack "${values.name}" down in ${took} s (stopped ${stopped.length} node${
          stopped.length === 1 ? "" : "s"
        }, ${data})`,
      );
    }
    return ExitCode.Pass;
  });
}
