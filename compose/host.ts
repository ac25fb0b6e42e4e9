/**
 * The host the harness provisions on: running a command to its end, finding
 * one on PATH, and installing Debian packages with apt when running as root
 * (otherwise saying what to install).
 * @module
 */

import { join } from "node:path";
import { EnvironmentError } from "../lib/exit_codes.ts";
import { Progress } from "../lib/progress.ts";

/** Something the harness needs is missing and could not be provisioned. Exit code 3. */
export class ProvisionError extends EnvironmentError {
  override name = "ProvisionError";
}

/** Runs a command to its end; its exit code and its output (stdout, then stderr). */
export async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; out: string }> {
  try {
    const output = await new Deno.Command(cmd, {
      args,
      env: options.env,
      cwd: options.cwd,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    return { code: output.code, out: text };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { code: 127, out: `${cmd}: not found` };
    throw error;
  }
}

/** Looks a command up on PATH. */
export async function which(cmd: string): Promise<string | undefined> {
  for (const folder of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!folder) continue;
    const candidate = join(folder, cmd);
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return candidate;
    } catch { /* not here */ }
  }
  return undefined;
}

function isRoot(): boolean {
  return Deno.uid?.() === 0;
}

let aptUpdated = false;

/** Installs Debian packages with apt-get when running as root; otherwise explains what to do. */
export async function aptInstall(packages: string[], why: string): Promise<void> {
  const hint = `install it with: sudo apt-get install -y ${packages.join(" ")}`;
  if (!isRoot() || !(await which("apt-get"))) {
    throw new ProvisionError(`${why} is missing; ${hint}`);
  }
  const progress = new Progress(`apt-get install ${packages.join(" ")}`);
  progress.update("installing");
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  let result = await run("apt-get", ["install", "-y", "--no-install-recommends", ...packages], {
    env,
  });
  if (result.code !== 0 && !aptUpdated) {
    progress.update("apt-get update");
    aptUpdated = true;
    await run("apt-get", ["update"], { env });
    result = await run("apt-get", ["install", "-y", "--no-install-recommends", ...packages], {
      env,
    });
  }
  if (result.code !== 0) {
    throw new ProvisionError(
      `apt-get install ${packages.join(" ")} failed (exit ${result.code}): ${
        result.out.trim().split("\n").slice(-3).join(" | ")
      }`,
    );
  }
  progress.done(`installed in ${progress.elapsedS().toFixed(1)} s`);
}
