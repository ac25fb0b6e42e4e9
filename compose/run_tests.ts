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
import { FailureNames, RepeatFolder } from "./test_output.ts";

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
      const proc = new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", ...Deno.args],
        env: {
          KAFKA_LOG_LEVEL: Deno.env.get("KAFKA_LOG_LEVEL") ?? "nothing",
          ...(stack ? { CHAOS_TEST_STACK: stack.name } : {}),
        },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      child = proc;
      const failures = new FailureNames();
      let summary = "";
      const stdout = (async () => {
        const decoder = new TextDecoder();
        let partial = "";
        for await (const chunk of proc.stdout) {
          await Deno.stdout.write(chunk);
          const text = decoder.decode(chunk, { stream: true });
          summary = (summary + text).slice(-4000);
          const lines = (partial + text).split("\n");
          partial = lines.pop()!;
          for (const l of lines) failures.line(l);
        }
        failures.line(partial);
      })();
      const stderr = foldRepeats(proc.stderr);
      const status = await proc.status;
      await Promise.all([stdout, stderr]);
      for (const name of failures.names) console.log(`failed: ${name}`);
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

/** Copies a child's stderr to ours line by line, a line repeated many times in a row folded. */
async function foldRepeats(stream: ReadableStream<Uint8Array>): Promise<void> {
  const fold = new RepeatFolder(3);
  const encoder = new TextEncoder();
  const write = (lines: string[]) =>
    lines.length ? Deno.stderr.write(encoder.encode(lines.map((l) => l + "\n").join(""))) : 0;
  let partial = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    await write(lines.flatMap((l) => fold.line(l)));
  }
  await write([...(partial ? fold.line(partial) : []), ...fold.flush()]);
}
