/**
 * A run's folder, `<out>/<scenario>/<timestamp>/` (default out:
 * `reports/runs`), with `logs/`, and the `latest` link beside it that points
 * at the newest run of the scenario.
 * @module
 */

import { basename, join } from "node:path";
import { repoRoot } from "../compose/paths.ts";

/**
 * Where run ids are claimed, machine-wide: a run's id names its stack, its cgroups and its
 * producers, which two clones of the harness (or two runs started in the same second) share.
 */
export function claimsDir(): string {
  return Deno.env.get("CHAOS_RUN_CLAIMS_DIR") ?? "/tmp/chaos-harness-run-ids";
}

/** A UTC timestamp for names: `20261202T011754Z`. */
export function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

export interface RunFolder {
  dir: string;
  /** `<scenario>-<timestamp>`, lower case: names the run's stack, producers and ledger. */
  runId: string;
  started: Date;
}

/**
 * Creates the folder of a run of `scenario` starting now. Its id is claimed machine-wide first
 * (`claimsDir()`): a second run of the same scenario in the same second, from this checkout or
 * another, gets `<timestamp>-2` (then `-3`, ...) and never the first's stack or folder.
 */
export async function createRunFolder(scenario: string, outDir?: string): Promise<RunFolder> {
  const started = new Date();
  const parent = join(outDir ?? join(repoRoot, "reports", "runs"), scenario);
  await Deno.mkdir(parent, { recursive: true });
  await Deno.mkdir(claimsDir(), { recursive: true, mode: 0o1777 });
  await forgetOldClaims();
  for (let n = 1;; n++) {
    const name = n === 1 ? stamp(started) : `${stamp(started)}-${n}`;
    const runId = `${scenario}-${name}`.toLowerCase();
    if (!await claim(join(claimsDir(), runId))) continue;
    const dir = join(parent, name);
    if (!await claim(dir)) continue;
    await Deno.mkdir(join(dir, "logs"));
    return { dir, runId, started };
  }
}

/** Claims older than a day are no run's any more (no run lasts that long in one second). */
async function forgetOldClaims(): Promise<void> {
  const dayAgo = Date.now() - 86_400_000;
  for await (const entry of Deno.readDir(claimsDir())) {
    const path = join(claimsDir(), entry.name);
    const info = await Deno.stat(path).catch(() => null);
    if (info?.mtime && info.mtime.getTime() < dayAgo) await Deno.remove(path).catch(() => {});
  }
}

/** Makes `path` as a new folder: false when it already exists. */
async function claim(path: string): Promise<boolean> {
  try {
    await Deno.mkdir(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
}

/** Points `<out>/<scenario>/latest` at this run. */
export async function linkLatest(folder: RunFolder): Promise<void> {
  const latest = join(folder.dir, "..", "latest");
  await Deno.remove(latest).catch(() => {});
  await Deno.symlink(basename(folder.dir), latest).catch(() => {});
}

/**
 * The folder of a run named by `name`: a run folder's path, a run id (`<scenario>-<timestamp>`),
 * or a scenario's name (its latest run), under `outDir` (default `reports/runs`); undefined
 * when none is found.
 */
export async function findRunDir(name: string, outDir?: string): Promise<string | undefined> {
  const isDir = async (p: string) => (await Deno.stat(p).catch(() => null))?.isDirectory ?? false;
  if (await isDir(name) && await Deno.stat(join(name, "history.jsonl")).catch(() => null)) {
    return name;
  }
  const out = outDir ?? join(repoRoot, "reports", "runs");
  if (await isDir(join(out, name, "latest"))) return await Deno.realPath(join(out, name, "latest"));
  if (!await isDir(out)) return undefined;
  for await (const scenario of Deno.readDir(out)) {
    if (!scenario.isDirectory || !name.startsWith(`${scenario.name}-`)) continue;
    for await (const run of Deno.readDir(join(out, scenario.name))) {
      if (run.isDirectory && `${scenario.name}-${run.name}`.toLowerCase() === name.toLowerCase()) {
        return join(out, scenario.name, run.name);
      }
    }
  }
  return undefined;
}
