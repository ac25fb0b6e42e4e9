/**
 * Where the harness keeps things on disk.
 *
 * - the provisioning cache (binaries and jars), shared by every checkout:
 *   `$CHAOS_CACHE_DIR`, default `$XDG_CACHE_HOME/chaos-harness` or `~/.cache/chaos-harness`;
 * - the state of stacks started with `deno task up`: `$CHAOS_STATE_DIR`, default
 *   `<repo>/.chaos` (git-ignored).
 *
 * ```ts
 * import { cacheDir } from "./paths.ts";
 * console.log(cacheDir()); // /root/.cache/chaos-harness
 * ```
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the folder holding deno.json). */
export const repoRoot: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The provisioning cache folder. */
export function cacheDir(): string {
  const explicit = Deno.env.get("CHAOS_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "chaos-harness");
  const home = Deno.env.get("HOME") ?? "/tmp";
  return join(home, ".cache", "chaos-harness");
}

/** The folder holding the state of named stacks. */
export function stateDir(): string {
  return Deno.env.get("CHAOS_STATE_DIR") ?? join(repoRoot, ".chaos");
}

/** True when a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
