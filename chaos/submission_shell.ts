/**
 * Runs a submission's shell commands (`setup`, its phases): `bash -c` in the
 * submission's folder, in a session of its own (the whole process group is
 * killed at the time limit or on Ctrl-C), with a clean environment: `PATH`
 * (this Deno first) and `HOME`, plus `env` when given (the contract's
 * variables for a phase that reads the store). Output goes to a log file.
 * Given a sandbox (compose/sandbox.ts), the command runs in it: as the box's
 * uid, in its copy of the submission's folder, with the box's environment
 * instead of the harness's PATH and HOME.
 *
 * ```ts
 * import { shell } from "./submission_shell.ts";
 * const code = await shell("make build", "/tmp/team", 60_000, "/tmp/setup.log", signal);
 * ```
 * @module
 */

import { dirname } from "node:path";
import type { Sandbox } from "../compose/sandbox.ts";
import { cappedWriter } from "../compose/log_cap.ts";

/** What a submission's commands get of the harness's environment: this Deno first on PATH, HOME. */
export function harnessBasics(): { PATH: string; HOME: string } {
  return {
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    HOME: Deno.env.get("HOME") ?? "/root",
  };
}

/**
 * What a submission's command runs as: `argv` itself, or `argv` wrapped by the sandbox, with the
 * environment it gets (the sandbox's instead of the harness's basics).
 */
export function submissionCommand(
  argv: string[],
  env: Record<string, string>,
  sandbox?: Sandbox,
): { argv: string[]; env: Record<string, string> } {
  if (!sandbox) return { argv, env: { ...env, ...harnessBasics() } };
  return { argv: sandbox.wrap(argv), env: { ...env, ...sandbox.env() } };
}

/**
 * Runs `cmd` in `cwd` (in `sandbox` when given); its exit code, or null when it ran out of time
 * or was stopped.
 */
export async function shell(
  cmd: string,
  cwd: string,
  timeoutMs: number,
  log: string,
  signal?: AbortSignal,
  env: Record<string, string> = {},
  sandbox?: Sandbox,
): Promise<number | null> {
  const file = await Deno.open(log, { create: true, append: true });
  const run = submissionCommand(["bash", "-c", cmd], env, sandbox);
  const child = new Deno.Command("setsid", {
    args: run.argv,
    cwd: sandbox?.cwd ?? cwd,
    // A clean environment: nothing of the harness's own reaches a submission.
    env: run.env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  // What the harness keeps of it is bounded (compose/log_cap.ts): a flood cannot fill the disk.
  const write = cappedWriter(file, { who: "the command" });
  const copy = Promise.all(
    [child.stdout, child.stderr].map((s) => s.pipeTo(new WritableStream({ write }))),
  );
  let stopped = false;
  const killGroup = () => {
    stopped = true;
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* gone */ }
  };
  const timer = setTimeout(killGroup, timeoutMs);
  signal?.addEventListener("abort", killGroup, { once: true });
  if (signal?.aborted) killGroup();
  const status = await child.status;
  clearTimeout(timer);
  signal?.removeEventListener("abort", killGroup);
  // What the command left running in its group goes with it.
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch { /* nothing left */ }
  await copy.catch(() => {});
  file.close();
  return stopped ? null : status.code;
}

/** The last `lines` lines of a log file (for a failure's message). */
export async function tailOf(log: string, lines = 15): Promise<string> {
  const text = await Deno.readTextFile(log).catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n") || "(empty)";
}
