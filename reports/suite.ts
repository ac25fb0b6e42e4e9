/**
 * The grader's suite: which scenarios a submission is graded by and the pass
 * mark. Suites are the grader's side of a grade (a submission never names
 * them): `scenarios/suites/<name>.yaml`, or a file of the grader's own given
 * by path (`deno task grade --suite my-suite.yaml`).
 *
 * ```yaml
 * name: default
 * description: the graded suite
 * pass_mark: 80
 * scenarios: [graded-broker-loss, graded-storage, graded-services]
 * ```
 * @module
 */

import { join, resolve } from "node:path";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { UsageError } from "../lib/exit_codes.ts";
import { parseStrict } from "../lib/parse_strict.ts";
import { repoRoot } from "../compose/paths.ts";

export const SuiteSchema = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, { message: "must be letters, digits, dots, dashes" }),
  description: z.string().min(1).optional(),
  /** Score (0..100, the mean over the scenarios) a submission needs besides every verdict passing. */
  pass_mark: z.number().min(0).max(100).default(80),
  /** Catalog names or scenario files (relative to the suite file). */
  scenarios: z.array(z.string().min(1)).min(1),
});
export type Suite = z.output<typeof SuiteSchema> & { file: string };

/** Where the catalog's suites live. */
export const SUITES_DIR = join(repoRoot, "scenarios", "suites");
export const DEFAULT_SUITE = "default";

/** The suite `nameOrFile` (a name of scenarios/suites/, or a .yaml/.json path); exit 2 otherwise. */
export async function loadSuite(nameOrFile: string = DEFAULT_SUITE): Promise<Suite> {
  const isPath = /[/\\]|\.(ya?ml|json)$/.test(nameOrFile);
  const file = isPath ? resolve(nameOrFile) : join(SUITES_DIR, `${nameOrFile}.yaml`);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    const known = await suiteNames();
    throw new UsageError(
      isPath
        ? `--suite: cannot read ${file}`
        : `--suite: no suite "${nameOrFile}"; there are: ${known.join(", ")}`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new UsageError(`${file}: not YAML: ${(error as Error).message}`);
  }
  const suite = parseStrict(SuiteSchema, raw, file);
  const dir = resolve(file, "..");
  return {
    ...suite,
    file,
    // A scenario given as a file is read relative to the suite.
    scenarios: suite.scenarios.map((s) => /[/\\]|\.(ts|ya?ml|json)$/.test(s) ? resolve(dir, s) : s),
  };
}

/** The names of the catalog's suites. */
export async function suiteNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(SUITES_DIR)) {
    if (e.isFile && e.name.endsWith(".yaml")) names.push(e.name.slice(0, -5));
  }
  return names.sort();
}
