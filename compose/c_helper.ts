/**
 * The harness's small C helpers (landlock.ts's `chaos-landlock`, socket_diag.ts's
 * `chaos-sockets`): built with `cc` under `<base>/bin/`, named by a digest of their source (a
 * changed source is a new file), checked once per process, or why there is none.
 *
 * ```ts
 * const h = await cHelper({ base: "/var/lib/chaos-sandbox", name: "chaos-x", what: "the x helper",
 *   source: SOURCE, mode: 0o700, check: (path) => undefined });
 * "path" in h ? h.path : h.problem;
 * ```
 * @module
 */

import { join } from "node:path";
import { run } from "./sandbox_error.ts";

/** A helper ready to run, or why there is none. */
export type CHelper = { path: string } | { problem: string };

export interface CHelperSpec {
  /** The folder whose `bin/` holds the helper. */
  base: string;
  /** The file's name before its source's digest. */
  name: string;
  /** What it is, for the problem's text ("the Landlock helper"). */
  what: string;
  /** Its C source. */
  source: string;
  /** The built file's mode (0o755: boxes run it by its path; 0o700: root's alone). */
  mode: number;
  /** Why the built helper cannot serve here (it is run to tell), or undefined. */
  check: (path: string) => string | undefined;
}

/** A short digest of the source (the helper's file name changes with it). */
async function digest(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(hash).slice(0, 6)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

const made = new Map<string, CHelper>();

/** The helper `spec` names, built when missing and checked once per process and base. */
export async function cHelper(spec: CHelperSpec): Promise<CHelper> {
  const key = `${spec.base}\0${spec.name}`;
  const known = made.get(key);
  if (known) return known;
  const dir = join(spec.base, "bin");
  const path = join(dir, `${spec.name}-${await digest(spec.source)}`);
  const answer = build(dir, path, spec);
  made.set(key, answer);
  return answer;
}

function build(dir: string, path: string, spec: CHelperSpec): CHelper {
  try {
    Deno.statSync(path);
  } catch {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
    Deno.chmodSync(dir, 0o755);
    const part = `${path}.${Deno.pid}`;
    Deno.writeTextFileSync(`${part}.c`, spec.source);
    const cc = run("cc", ["-O2", "-o", part, `${part}.c`]);
    Deno.removeSync(`${part}.c`);
    if (cc.code !== 0) {
      return { problem: `cannot build ${spec.what} (cc exited ${cc.code}): ${cc.out}` };
    }
    Deno.chmodSync(part, spec.mode);
    Deno.renameSync(part, path);
  }
  const problem = spec.check(path);
  return problem ? { problem } : { path };
}
