/**
 * `deno task docs [--check]`: regenerates the tables in docs/ that are made
 * from the code, so they cannot drift: the catalog in docs/scenarios.md (from
 * the scenario files) and the faults (from the table of faults). `--check`
 * changes nothing and exits 1 when a table is stale (the test suite runs it).
 * @module
 */

import { join } from "node:path";
import { repoRoot } from "../compose/paths.ts";
import { parseFlags } from "../lib/cli.ts";
import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { catalog, loadScenario, needsDocker } from "./cli_scenario.ts";
import { faultTable } from "./faults/mod.ts";

const USAGE = `usage: deno task docs [--check]

Regenerates the catalog and fault tables in docs/scenarios.md from the scenario
files and the table of faults. --check: exit 1 when they are stale, change nothing.`;

export const SCENARIOS_DOC = join(repoRoot, "docs", "scenarios.md");

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

/** Markdown as `deno fmt` (with the project's settings) leaves it, so a generated doc stays formatted. */
async function formatted(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
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

if (import.meta.main) {
  await runMain(async () => {
    const { values } = parseFlags(Deno.args, { check: { type: "boolean", default: false } }, USAGE);
    const current = await Deno.readTextFile(SCENARIOS_DOC);
    const wanted = await scenariosDoc(current);
    if (values.check) {
      if (wanted === current) return ExitCode.Pass;
      console.error("docs/scenarios.md is stale: run deno task docs");
      return ExitCode.CheckFailed;
    }
    if (wanted !== current) await Deno.writeTextFile(SCENARIOS_DOC, wanted);
    console.log(wanted === current ? "docs are current" : "docs/scenarios.md updated");
    return ExitCode.Pass;
  });
}
