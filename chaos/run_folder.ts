/**
 * A run's folder, `<out>/<scenario>/<timestamp>/` (default out:
 * `reports/runs`), with `logs/`, and the `latest` link beside it that points
 * at the newest run of the scenario.
 * @module
 */

import { join } from "node:path";
import { repoRoot } from "../compose/paths.ts";

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

/** Creates the folder of a run of `scenario` starting now. */
export async function createRunFolder(scenario: string, outDir?: string): Promise<RunFolder> {
  const started = new Date();
  const dir = join(outDir ?? join(repoRoot, "reports", "runs"), scenario, stamp(started));
  await Deno.mkdir(join(dir, "logs"), { recursive: true });
  return { dir, runId: `${scenario}-${stamp(started)}`.toLowerCase(), started };
}

/** Points `<out>/<scenario>/latest` at this run. */
export async function linkLatest(folder: RunFolder): Promise<void> {
  const latest = join(folder.dir, "..", "latest");
  await Deno.remove(latest).catch(() => {});
  await Deno.symlink(stamp(folder.started), latest).catch(() => {});
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
