/**
 * `deno task test [deno test flags and paths]`: the whole test suite.
 *
 * Provisions what is missing (with progress: the binaries, and for the docker
 * stack's tests the Docker engine and images), starts one local stack that
 * every test file shares (`CHAOS_TEST_STACK`, see `testing.ts`), runs `deno
 * test`, stops the stack whatever happened (also on Ctrl-C), and ends with a
 * plain summary line `tests: N passed, N failed[, N skipped]`.
 *
 * `CHAOS_SKIP_SLOW=1` (or `deno task test:quick`) skips the tests that need the
 * stack, and then no stack is started.
 * @module
 */

import { ExitCode, HelpRequested, InterruptedError, runMain } from "../lib/exit_codes.ts";
import { LocalStack } from "./local_stack.ts";
import { ensureImages } from "./images.ts";
import { ensureDockerEngine } from "./host_tools.ts";
import { provision } from "./provision.ts";
import { say } from "../lib/progress.ts";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

const USAGE = `usage: deno task test [deno test flags and paths]

Runs the whole test suite against one shared local stack (started here, stopped
at the end), provisioning what is missing first. Flags and paths go to
\`deno test\` (e.g. \`deno task test chaos/\`). CHAOS_SKIP_SLOW=1 (or
\`deno task test:quick\`) runs only the tests that need no stack. The last line
is the summary: tests: N passed, N failed.`;

if (import.meta.main) {
  await runMain(async () => {
    if (Deno.args[0] === "--help" || Deno.args[0] === "-h") throw new HelpRequested(USAGE);
    const quick = Deno.env.get("CHAOS_SKIP_SLOW") === "1";
    let stack: LocalStack | undefined;
    let child: Deno.ChildProcess | undefined;
    const onSignal = () => {
      child?.kill("SIGTERM");
      interrupted = true;
    };
    let interrupted = false;
    let summaryLine = "";
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    try {
      if (!quick) {
        const binaries = await provision();
        // The docker stack's tests need an engine and the images (built once, then cached).
        await ensureDockerEngine();
        await ensureImages(binaries);
        const basePort = Number(Deno.env.get("CHAOS_TEST_BASE_PORT") ?? 30000);
        say(`starting the shared test stack on base port ${basePort}`);
        stack = await LocalStack.up({ name: `tests-${Deno.pid}`, basePort, owner: "process" });
      }
      if (interrupted) throw new InterruptedError("SIGINT");
      child = new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", ...Deno.args],
        env: {
          KAFKA_LOG_LEVEL: Deno.env.get("KAFKA_LOG_LEVEL") ?? "nothing",
          ...(stack ? { CHAOS_TEST_STACK: stack.name } : {}),
        },
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      let summary = "";
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        await Deno.stdout.write(chunk);
        summary = (summary + decoder.decode(chunk, { stream: true })).slice(-4000);
      }
      const status = await child.status;
      if (interrupted) throw new InterruptedError("SIGINT");
      const line = summary.replace(ANSI, "").split("\n").reverse()
        .find((l) => /\d+ passed.*\d+ failed/.test(l));
      const n = (re: RegExp) => Number(line?.match(re)?.[1] ?? 0);
      const passed = n(/(\d+) passed/);
      const failed = n(/(\d+) failed/);
      const skipped = n(/(\d+) ignored/);
      summaryLine = `tests: ${passed} passed, ${failed} failed${
        skipped ? `, ${skipped} skipped` : ""
      }`;
      return status.success ? ExitCode.Pass : ExitCode.CheckFailed;
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
      if (stack) {
        say("stopping the shared test stack");
        await stack.down();
      }
      // The plain summary is the last line, for CI readers of closing lines.
      if (summaryLine) console.log(summaryLine);
    }
  });
}
