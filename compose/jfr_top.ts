/**
 * `deno run -A compose/jfr_top.ts <file.jfr>... [--top 25]`
 *
 * What a JVM (a broker) spent its Java time on, from Java Flight Recorder recordings
 * (`CHAOS_KAFKA_JVM_OPTS="-XX:StartFlightRecording=settings=profile,filename=DIR/"` gives one
 * per broker): the execution samples, read through the JDK's `jfr print`, summed over the files
 * given, as the methods with the most samples on top of the stack (self), the Kafka methods
 * with the most samples anywhere in the stack (inclusive: which of Kafka's paths the time is
 * under), and the threads the samples were taken on. The JVM's samples cover Java code only:
 * the kernel's share of a thread's CPU (sockets, files) is `thread_cpu.ts`'s to show.
 * @module
 */

import { intFlag, parseFlags } from "../lib/cli.ts";
import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { threadGroup } from "./thread_cpu.ts";

/** One execution sample: its thread's name and its frames, the top first, as `pkg.Class.method`. */
export interface JfrSample {
  thread: string;
  frames: string[];
}

/** The execution samples of `jfr print --events jdk.ExecutionSample` text. */
export function parseJfrSamples(text: string): JfrSample[] {
  const out: JfrSample[] = [];
  let current: JfrSample | undefined;
  let inStack = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "jdk.ExecutionSample {") {
      current = { thread: "", frames: [] };
      inStack = false;
    } else if (!current) {
      continue;
    } else if (line.startsWith("sampledThread = ")) {
      current.thread = line.match(/^sampledThread = "(.*)" \(/)?.[1] ?? "";
    } else if (line === "stackTrace = [") {
      inStack = true;
    } else if (inStack && line === "]") {
      inStack = false;
    } else if (inStack && line !== "...") {
      const paren = line.indexOf("(");
      current.frames.push(paren > 0 ? line.slice(0, paren) : line);
    } else if (line === "}" && !inStack) {
      out.push(current);
      current = undefined;
    }
  }
  return out;
}

export interface Count {
  name: string;
  samples: number;
}

const KAFKA = /^(kafka|org\.apache\.kafka)\./;

function top(counts: Map<string, number>, n: number): Count[] {
  return [...counts].map(([name, samples]) => ({ name, samples }))
    .sort((a, b) => b.samples - a.samples || (a.name < b.name ? -1 : 1)).slice(0, n);
}

/** Self samples per method, inclusive samples per Kafka method, samples per thread group. */
export function summarize(samples: readonly JfrSample[], n: number): {
  total: number;
  self: Count[];
  kafka: Count[];
  threads: Count[];
} {
  const self = new Map<string, number>();
  const kafka = new Map<string, number>();
  const threads = new Map<string, number>();
  for (const s of samples) {
    const leaf = s.frames[0] ?? "(no frames)";
    self.set(leaf, (self.get(leaf) ?? 0) + 1);
    for (const f of new Set(s.frames.filter((f) => KAFKA.test(f)))) {
      kafka.set(f, (kafka.get(f) ?? 0) + 1);
    }
    const g = threadGroup(s.thread);
    threads.set(g, (threads.get(g) ?? 0) + 1);
  }
  return {
    total: samples.length,
    self: top(self, n),
    kafka: top(kafka, n),
    threads: top(threads, n),
  };
}

/** The summary as text: three tables of samples and shares. */
export function formatSummary(s: ReturnType<typeof summarize>): string[] {
  const pct = (k: number) => `${((k / Math.max(1, s.total)) * 100).toFixed(1).padStart(5)}%`;
  const table = (title: string, rows: Count[]) => [
    title,
    ...rows.map((r) => `  ${String(r.samples).padStart(7)}  ${pct(r.samples)}  ${r.name}`),
  ];
  return [
    `${s.total} execution samples`,
    ...table("on top of the stack (self):", s.self),
    ...table("Kafka methods anywhere in the stack (inclusive):", s.kafka),
    ...table("threads:", s.threads),
  ];
}

const USAGE = "usage: deno run -A compose/jfr_top.ts <file.jfr>... [--top 25]";

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseFlags(Deno.args, {
      top: { type: "string", default: "25" },
    }, USAGE);
    const n = intFlag("top", values.top, { min: 1, max: 1000 })!;
    if (positionals.length === 0) throw new UsageError(`give one or more .jfr files\n${USAGE}`);
    const samples: JfrSample[] = [];
    for (const file of positionals) {
      const out = await new Deno.Command("jfr", {
        args: ["print", "--events", "jdk.ExecutionSample", "--stack-depth", "64", file],
        stdout: "piped",
        stderr: "piped",
      }).output().catch((e) => {
        throw new UsageError(`jfr (the JDK's tool) cannot run: ${(e as Error).message}`);
      });
      if (!out.success) {
        throw new UsageError(`jfr print ${file}: ${new TextDecoder().decode(out.stderr).trim()}`);
      }
      samples.push(...parseJfrSamples(new TextDecoder().decode(out.stdout)));
    }
    for (const l of formatSummary(summarize(samples, n))) console.log(l);
    return ExitCode.Pass;
  });
}
