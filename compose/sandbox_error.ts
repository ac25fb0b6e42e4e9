/**
 * The sandbox's error and the root tools it runs (compose/sandbox.ts and the box's bounds,
 * sandbox_bounds.ts): `run` gives a tool's exit code and output, `mustRun` throws a
 * `SandboxError` naming the command and what it said.
 *
 * ```ts
 * import { mustRun, run } from "./sandbox_error.ts";
 * if (run("losetup", ["--version"]).code === 127) throw new Error("no losetup");
 * mustRun("mount", ["-t", "tmpfs", "none", "/mnt/x"]);
 * ```
 * @module
 */

/** A sandbox that cannot be made or closed as asked (the command and its output in the message). */
export class SandboxError extends Error {
  override name = "SandboxError";
}

/** Runs `cmd` (stdin closed): its exit code (127: it could not be spawned) and its output. */
export function run(cmd: string, args: string[]): { code: number; out: string } {
  try {
    const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .outputSync();
    const dec = new TextDecoder();
    return { code: o.code, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).trim() };
  } catch (error) {
    return { code: 127, out: `${cmd}: ${(error as Error).message}` };
  }
}

/** Runs `cmd`; its output, or a SandboxError naming the command, its exit code and output. */
export function mustRun(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) {
    throw new SandboxError(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.out}`);
  }
  return r.out;
}
