/**
 * Writes a run's reports into its folder: results.json, report.md,
 * report.html and junit.xml. The one place a run folder's reports are made
 * (by the engine after a run, by `validate --run` after a re-check).
 *
 * ```ts
 * import { writeReports } from "./write.ts";
 * await writeReports(runDir, { results, samples, incidents, alerts });
 * ```
 * @module
 */

import { join } from "node:path";
import { renderHtml, type ReportData } from "./html.ts";
import { renderJunit, renderMarkdown } from "./render.ts";

export async function writeReports(runDir: string, data: ReportData): Promise<void> {
  await Deno.writeTextFile(join(runDir, "results.json"), JSON.stringify(data.results, null, 2));
  await Deno.writeTextFile(join(runDir, "report.md"), renderMarkdown(data.results));
  await Deno.writeTextFile(join(runDir, "report.html"), renderHtml(data));
  await Deno.writeTextFile(join(runDir, "junit.xml"), renderJunit(data.results));
}
