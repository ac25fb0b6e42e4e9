/**
 * `deno run -A compose/cpuprofile_top.ts <file.cpuprofile>... [--top 25]`
 *
 * The functions with the most self time in V8 CPU profiles (`deno run --cpu-prof`, one file per
 * isolate: the main thread's and each worker's), summed over the files given: self ms, share of
 * all samples, function, file:line. What profiled the generator's hot path (docs/reference.md).
 * @module
 */

import { intFlag, parseFlags } from "../lib/cli.ts";
import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
/** The parts of a `.cpuprofile` read here. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A function's self time, keyed by name and place. */
export interface SelfTime {
  name: string;
  place: string;
  ms: number;
}

/** Self time per function (name, file and line) over the profiles, largest first. */
export function selfTimes(profiles: CpuProfile[]): SelfTime[] {
  const byKey = new Map<string, SelfTime>();
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const node = nodes.get(p.samples[i]);
      if (!node) continue;
      const f = node.callFrame;
      const file = f.url.replace(/^.*\/node_modules\//, "").replace(
        /^file:\/\/.*?\/(?=[^/]+\/[^/]+$)/,
        "",
      );
      const place = f.url ? `${file}:${f.lineNumber + 1}` : "";
      const name = f.functionName || "(anonymous)";
      const key = `${name}@${place}`;
      let t = byKey.get(key);
      if (!t) byKey.set(key, t = { name, place, ms: 0 });
      t.ms += (p.timeDeltas[i] ?? 0) / 1000;
    }
  }
  return [...byKey.values()].sort((a, b) => b.ms - a.ms);
}

if (import.meta.main) {
  await runMain(async () => {
    const usage = "usage: deno run -A compose/cpuprofile_top.ts <file.cpuprofile>... [--top 25]";
    const { values, positionals } = parseFlags(Deno.args, {
      top: { type: "string", default: "25" },
    }, usage);
    const top = intFlag("top", values.top, { min: 1, max: 1000 })!;
    if (positionals.length === 0) throw new UsageError(usage);
    const profiles: CpuProfile[] = [];
    for (const file of positionals) profiles.push(JSON.parse(await Deno.readTextFile(file)));
    const times = selfTimes(profiles);
    const total = times.reduce((s, t) => s + t.ms, 0);
    console.log(`${total.toFixed(0)} ms sampled in ${profiles.length} profile(s)`);
    for (const t of times.slice(0, top)) {
      console.log(
        `${t.ms.toFixed(0).padStart(8)} ms ${
          (100 * t.ms / total).toFixed(1).padStart(5)
        }%  ${t.name}  ${t.place}`,
      );
    }
    return ExitCode.Pass;
  });
}
