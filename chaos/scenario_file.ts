/**
 * Scenarios from any file: a `.ts` module (its default export), a `.json` or a
 * `.yaml`/`.yml` document, anywhere on disk, and `--set key.path=value`
 * overrides applied to what was read, before the one schema validates it all
 * (scenario.ts). Unreadable files, bad JSON or YAML and bad overrides are
 * usage errors (exit 2) naming the file, the line or the key path.
 *
 * ```ts
 * import { applySets, readScenarioInput } from "./scenario_file.ts";
 * const raw = applySets(await readScenarioInput("my/flagship.yaml"), ["workload.eps=20000"]);
 * ```
 * @module
 */

import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";
import { UsageError } from "../lib/exit_codes.ts";

export const SCENARIO_EXTENSIONS = [".ts", ".json", ".yaml", ".yml"] as const;

/** True when `arg` names a file rather than a scenario of the catalog. */
export function isScenarioPath(arg: string): boolean {
  return arg.includes("/") ||
    (SCENARIO_EXTENSIONS as readonly string[]).includes(extname(arg).toLowerCase());
}

/**
 * What a scenario file holds, unvalidated; `path` is named `shown` in messages (a catalog
 * scenario by its place in the repository).
 */
export async function readScenarioInput(path: string, shown = path): Promise<unknown> {
  const ext = extname(path).toLowerCase();
  if (!(SCENARIO_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new UsageError(
      `${path}: a scenario file must end with ${SCENARIO_EXTENSIONS.join(", ")}`,
    );
  }
  const full = resolve(path);
  if (ext === ".ts") {
    await readable(shown, full);
    const mod = await import(pathToFileURL(full).href).catch((error) => {
      throw new UsageError(`${shown} could not be loaded: ${firstLine(error)}`);
    });
    if (mod.default === undefined) {
      throw new UsageError(`${shown} has no default export (export default defineScenario({...}))`);
    }
    try {
      return structuredClone(mod.default);
    } catch (error) {
      throw new UsageError(`${shown}: the default export is not plain data: ${firstLine(error)}`);
    }
  }
  const text = await readable(shown, full);
  try {
    return ext === ".json" ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    throw new UsageError(
      `${shown} is not valid ${ext === ".json" ? "JSON" : "YAML"}: ${firstLine(error)}`,
    );
  }
}

/** The first line of an error's message (a loader's or parser's message can run on). */
function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

async function readable(path: string, full: string): Promise<string> {
  try {
    return await Deno.readTextFile(full);
  } catch (error) {
    throw new UsageError(
      error instanceof Deno.errors.NotFound
        ? `no scenario file ${path}`
        : `${path} could not be read: ${(error as Error).message}`,
    );
  }
}

/**
 * Applies `key.path=value` overrides to a copy of `input`. The value is read as JSON when it
 * is JSON (`20000`, `true`, `"5s"`, `[1,2]`, `{"a":1}`), else as a string (`5s`). Numeric
 * segments index arrays (`faults.0.at=20s`); missing objects on the way are created, so the
 * schema, not this function, decides which keys exist.
 */
export function applySets(input: unknown, sets: readonly string[]): unknown {
  const out = structuredClone(input);
  for (const set of sets) {
    const eq = set.indexOf("=");
    const path = eq > 0 ? set.slice(0, eq).split(".") : [];
    if (eq <= 0 || path.some((k) => k === "")) {
      throw new UsageError(`--set "${set}": expected key.path=value, e.g. workload.eps=20000`);
    }
    let node = out as Record<string, unknown>;
    if (!isContainer(node)) throw new UsageError(`--set ${set}: the scenario is not an object`);
    for (const [i, key] of path.entries()) {
      const last = i === path.length - 1;
      if (Array.isArray(node) && !/^\d+$/.test(key)) {
        throw new UsageError(`--set ${set}: ${path.slice(0, i).join(".")} is a list; index it`);
      }
      if (last) {
        node[key] = valueOf(set.slice(eq + 1));
        break;
      }
      if (node[key] === undefined) node[key] = {};
      if (!isContainer(node[key])) {
        throw new UsageError(
          `--set ${set}: ${path.slice(0, i + 1).join(".")} is ${
            JSON.stringify(node[key])
          }, not an object or a list`,
        );
      }
      node = node[key] as Record<string, unknown>;
    }
  }
  return out;
}

function isContainer(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null;
}

function valueOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
