/**
 * `deno task docs [--check]`: regenerates what docs/ holds that is made from
 * the code, so it cannot drift: the catalog in docs/scenarios.md (from the
 * scenario files), the faults (from the table of faults), and the JSON Schemas
 * of scenario files and submissions (`docs/scenario.schema.json`,
 * `docs/submission.schema.json`, from the zod schemas, for editors). `--check`
 * changes nothing and exits 1 when any is stale (the test suite runs it).
 * @module
 */

import { join } from "node:path";
import { z } from "zod";
import { SubmissionSchema } from "../reports/submission.ts";
import { scenarioSchema } from "./scenario.ts";
import { repoRoot } from "../compose/paths.ts";
import { parseFlags } from "../lib/cli.ts";
import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { catalog, loadScenario, needsDocker } from "./cli_scenario.ts";
import { FAULTS, type FaultTable, faultTable } from "./faults/mod.ts";

const USAGE = `usage: deno task docs [--check]

Regenerates the catalog and fault tables in docs/scenarios.md from the scenario
files and the table of faults, and docs/scenario.schema.json and
docs/submission.schema.json from the schemas. --check: exit 1 when any is stale,
change nothing.`;

export const SCENARIOS_DOC = join(repoRoot, "docs", "scenarios.md");
const SCHEMAS = {
  "scenario.schema.json": { schema: scenarioSchema(), title: "chaos-harness scenario" },
  "submission.schema.json": { schema: SubmissionSchema, title: "chaos-harness submission" },
};

/** The catalog as a Markdown table, one row per scenario file. */
async function catalogTable(): Promise<string> {
  const rows: string[] = [];
  for (const name of await catalog()) {
    const s = await loadScenario(name);
    const tags = [
      s.expect === "fail" ? "negative control" : "",
      needsDocker(s) ? "`--stack docker`" : "",
    ].filter(Boolean).join(", ");
    rows.push(
      `| \`${name}\` | ${tags ? `(${tags}) ` : ""}${s.description.replaceAll("|", "\\|")} |`,
    );
  }
  return ["| scenario | what it proves |", "| --- | --- |", ...rows].join("\n");
}

/** `text` with the part between `<!-- key:start -->` and `<!-- key:end -->` replaced. */
export function fill(text: string, key: string, content: string): string {
  const start = `<!-- ${key}:start -->`;
  const end = `<!-- ${key}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new UsageError(`docs: no ${start} … ${end} in the document`);
  return `${text.slice(0, a + start.length)}\n${content}\n${text.slice(b)}`;
}

/** Text as `deno fmt` (with the project's settings) leaves it, so a generated doc stays formatted. */
async function formatted(markdown: string, ext = "md"): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", ext, "-"],
    cwd: repoRoot,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`deno fmt: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** docs/scenarios.md as it should be. */
export async function scenariosDoc(current: string): Promise<string> {
  return await formatted(
    fill(fill(current, "catalog", await catalogTable()), "faults", faultTable()),
  );
}

type Json = Record<string, unknown>;
const SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema";
const inputJson = (schema: z.ZodType): Json => {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return json;
};

/**
 * The scenario's JSON Schema with each fault's params as its kind's own schema says (the zod
 * schema parses them by kind in a refinement, which JSON Schema cannot see): a fault's `params`
 * by `if kind then params`, the chaos block's shared bag as any param of any kind.
 */
export function withFaultParams(json: Json, table: FaultTable = FAULTS): Json {
  const props = json.properties as Record<string, Json>;
  const item = (props.faults.items ?? {}) as Json;
  const kinds = Object.values(table);
  (item.properties as Record<string, Json>).kind = { type: "string", enum: Object.keys(table) };
  item.allOf = kinds.map((f) => ({
    if: { properties: { kind: { const: f.kind } }, required: ["kind"] },
    then: { properties: { params: inputJson(f.params) } },
  }));
  const chaos = props.chaos?.properties as Record<string, Json> | undefined;
  if (chaos) {
    const any: Record<string, unknown> = {};
    for (const f of kinds) {
      const own = (inputJson(f.params).properties ?? {}) as Record<string, unknown>;
      for (const [key, p] of Object.entries(own)) any[key] ??= p;
    }
    chaos.params = { ...chaos.params, properties: any, additionalProperties: false };
  }
  return json;
}

/**
 * The JSON Schemas for editors, keyed by their file in docs/: what a file may hold (the input
 * side: defaults are optional), with what zod cannot express (durations' units, refinements)
 * left to the harness's own check.
 */
export async function schemaDocs(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [file, { schema, title }] of Object.entries(SCHEMAS)) {
    const raw = inputJson(schema);
    const json = file === "scenario.schema.json" ? withFaultParams(raw) : raw;
    out[file] = await formatted(JSON.stringify({ title, $schema: SCHEMA_DRAFT, ...json }), "json");
  }
  return out;
}

/** Every generated file of docs/ as it should be, by path. */
export async function generatedDocs(): Promise<Map<string, string>> {
  const docs = new Map<string, string>();
  docs.set(SCENARIOS_DOC, await scenariosDoc(await Deno.readTextFile(SCENARIOS_DOC)));
  for (const [file, text] of Object.entries(await schemaDocs())) {
    docs.set(join(repoRoot, "docs", file), text);
  }
  return docs;
}

const readOrEmpty = (path: string) => Deno.readTextFile(path).catch(() => "");

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, { check: { type: "boolean", default: false } }, USAGE);
    const stale: string[] = [];
    for (const [path, wanted] of await generatedDocs()) {
      if (wanted === await readOrEmpty(path)) continue;
      stale.push(path.slice(repoRoot.length + 1));
      if (!values.check) await Deno.writeTextFile(path, wanted);
    }
    if (values.check && stale.length) {
      console.error(`stale: ${stale.join(", ")}: run deno task docs`);
      return ExitCode.CheckFailed;
    }
    console.log(stale.length ? `updated: ${stale.join(", ")}` : "docs are current");
    return ExitCode.Pass;
  });
}
