/**
 * `deno run -A compose/thread_cpu.ts <pid>... [--seconds 30] [--top 15]`
 *
 * Where a process's CPU goes by thread: samples `/proc/<pid>/task/<tid>/stat` of each pid now and
 * `--seconds` later and prints, per pid and summed over all of them, the CPU seconds of each
 * thread group (threads named alike, their numbers folded: `ReplicaFetcherThread-0-2` and
 * `-0-3` are one group), split into user and kernel time. What showed where a broker's CPU goes
 * at the pipeline's rate (docs/reference.md): its network threads, request handlers, replica
 * fetchers, the collector, the compiler, and how much of it is the kernel's (sockets, files).
 * Threads born or ended within the window are counted for the part they lived in it.
 * @module
 */

import { intFlag, parseFlags } from "../lib/cli.ts";
import { ExitCode, runMain, UsageError } from "../lib/exit_codes.ts";
import { TICKS_PER_SECOND } from "./cpu.ts";

export interface ThreadStat {
  tid: number;
  /** The thread's name (`comm`, at most 15 characters). */
  name: string;
  userS: number;
  systemS: number;
}

/** Parses one `/proc/<pid>/task/<tid>/stat` line; undefined when it is not one. */
export function parseThreadStat(line: string): ThreadStat | undefined {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const tid = Number(line.slice(0, open).trim());
  const rest = line.slice(close + 2).split(" ");
  const user = Number(rest[11]);
  const system = Number(rest[12]);
  if (![tid, user, system].every(Number.isFinite)) return undefined;
  return {
    tid,
    name: line.slice(open + 1, close),
    userS: user / TICKS_PER_SECOND,
    systemS: system / TICKS_PER_SECOND,
  };
}

/** A thread's group: its name with every run of digits folded to `#` (`GC Thread#0` → `GC Thread#`). */
export function threadGroup(name: string): string {
  return name.replace(/\d+/g, "#").replace(/#(?:[-_.#]*#)+/g, "#");
}

export interface GroupCpu {
  group: string;
  threads: number;
  userS: number;
  systemS: number;
}

/**
 * Each group's CPU between two samples of the same process's threads, most first. A thread
 * absent from `before` counts from zero (born in the window); one absent from `after` is lost
 * with what it used in the window (it ended).
 */
export function groupDelta(
  before: readonly ThreadStat[],
  after: readonly ThreadStat[],
): GroupCpu[] {
  const was = new Map(before.map((t) => [t.tid, t]));
  const groups = new Map<string, GroupCpu>();
  for (const t of after) {
    const b = was.get(t.tid);
    const user = Math.max(0, t.userS - (b?.userS ?? 0));
    const system = Math.max(0, t.systemS - (b?.systemS ?? 0));
    const key = threadGroup(t.name);
    const g = groups.get(key) ?? { group: key, threads: 0, userS: 0, systemS: 0 };
    g.threads++;
    g.userS += user;
    g.systemS += system;
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => b.userS + b.systemS - (a.userS + a.systemS));
}

/** Sums groups of several processes (brokers alike) by name. */
export function mergeGroups(lists: readonly GroupCpu[][]): GroupCpu[] {
  const out = new Map<string, GroupCpu>();
  for (const list of lists) {
    for (const g of list) {
      const o = out.get(g.group) ?? { group: g.group, threads: 0, userS: 0, systemS: 0 };
      o.threads += g.threads;
      o.userS += g.userS;
      o.systemS += g.systemS;
      out.set(g.group, o);
    }
  }
  return [...out.values()].sort((a, b) => b.userS + b.systemS - (a.userS + a.systemS));
}

/** The groups as a table: CPU-s, its share of the total, user and kernel seconds. */
export function formatGroups(groups: readonly GroupCpu[], top: number): string[] {
  const total = groups.reduce((s, g) => s + g.userS + g.systemS, 0);
  const user = groups.reduce((s, g) => s + g.userS, 0);
  const lines = [
    `  ${total.toFixed(2)} CPU-s: user ${user.toFixed(2)}, kernel ${(total - user).toFixed(2)} (${
      total > 0 ? (((total - user) / total) * 100).toFixed(0) : "0"
    }%)`,
    "   CPU-s  share    user  kernel  threads  group",
  ];
  for (const g of groups.slice(0, top)) {
    const s = g.userS + g.systemS;
    lines.push(
      `  ${s.toFixed(2).padStart(6)}  ${
        (total > 0 ? (s / total) * 100 : 0).toFixed(1).padStart(4)
      }%` +
        `  ${g.userS.toFixed(2).padStart(6)}  ${g.systemS.toFixed(2).padStart(6)}  ${
          String(g.threads).padStart(7)
        }  ${g.group}`,
    );
  }
  return lines;
}

function readThreads(pid: number): ThreadStat[] {
  const out: ThreadStat[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const t = parseThreadStat(Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`));
      if (t) out.push(t);
    } catch { /* ended */ }
  }
  return out;
}

const USAGE = "usage: deno run -A compose/thread_cpu.ts <pid>... [--seconds 30] [--top 15]";

if (import.meta.main) {
  await runMain(async () => {
    const { values, positionals } = parseFlags(Deno.args, {
      seconds: { type: "string", default: "30" },
      top: { type: "string", default: "15" },
    }, USAGE);
    const seconds = intFlag("seconds", values.seconds, { min: 1, max: 86_400 })!;
    const top = intFlag("top", values.top, { min: 1, max: 1000 })!;
    const pids = positionals.map(Number);
    if (pids.length === 0 || !pids.every((p) => Number.isInteger(p) && p > 0)) {
      throw new UsageError(`give one or more pids\n${USAGE}`);
    }
    const before = new Map<number, ThreadStat[]>();
    for (const pid of pids) {
      try {
        before.set(pid, readThreads(pid));
      } catch {
        throw new UsageError(`no process ${pid}`);
      }
    }
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const lists: GroupCpu[][] = [];
    for (const pid of pids) {
      let after: ThreadStat[];
      try {
        after = readThreads(pid);
      } catch {
        console.log(`pid ${pid}: ended within the window`);
        continue;
      }
      const groups = groupDelta(before.get(pid)!, after);
      lists.push(groups);
      console.log(`pid ${pid} over ${seconds} s:`);
      for (const l of formatGroups(groups, top)) console.log(l);
    }
    if (lists.length > 1) {
      console.log(`all ${lists.length} over ${seconds} s:`);
      for (const l of formatGroups(mergeGroups(lists), top)) console.log(l);
    }
    return ExitCode.Pass;
  });
}
