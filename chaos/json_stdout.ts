/**
 * `scenario --json`: stdout carries the verdict object and nothing else. A run's process has
 * threads (the generator's workers, the audit's) and clients whose stray lines no console
 * patch of the main thread reaches (CI saw one after the verdict). So the run goes on in a child
 * process whose stdout is this process's stderr; the child writes the verdict object to a file
 * (`CHAOS_JSON_OUT`), and this process prints it, whole, as its only stdout, and exits with the
 * child's code. Ctrl-C and SIGTERM are passed on to the child, which heals and cleans up.
 *
 * ```ts
 * import { jsonInChild, jsonOutFile } from "./json_stdout.ts";
 * if (json && !jsonOutFile()) Deno.exit(await jsonInChild(import.meta.filename!));
 * ```
 * @module
 */

/** The variable that tells the child where the verdict object goes. */
export const JSON_OUT_ENV = "CHAOS_JSON_OUT";

/** The child's verdict file, when this process is the run's child. */
export function jsonOutFile(): string | undefined {
  return Deno.env.get(JSON_OUT_ENV) || undefined;
}

/** Writes the verdict object to the parent's file (`jsonOutFile`): only the run's child does. */
export function writeVerdictJson(text: string): void {
  const file = jsonOutFile();
  if (!file) throw new Error(`writeVerdictJson: ${JSON_OUT_ENV} is not set (not the run's child)`);
  Deno.writeTextFileSync(file, text + "\n");
}

/** Runs `script` with this process's arguments in a child (see the module); its exit code. */
export async function jsonInChild(script: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "chaos-json-" });
  const file = `${dir}/verdict.json`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...Deno.args],
    env: { [JSON_OUT_ENV]: file },
    stdin: "inherit",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const pass = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* gone */ }
  };
  const onInt = pass("SIGINT");
  const onTerm = pass("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  try {
    await child.stdout.pipeTo(
      new WritableStream({ write: (chunk) => void Deno.stderr.writeSync(chunk) }),
    );
    const { code } = await child.status;
    const verdict = await Deno.readTextFile(file).catch(() => "");
    if (verdict) {
      const bytes = new TextEncoder().encode(verdict);
      for (let done = 0; done < bytes.length;) {
        done += Deno.stdout.writeSync(bytes.subarray(done));
      }
    }
    return code;
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
