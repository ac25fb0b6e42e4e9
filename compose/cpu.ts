/**
 * Where the CPU goes: the CPU time of process trees and of the machine, read
 * from Linux's `/proc`. A node of a stack (a broker, MinIO, a component, or a
 * container's main process on a local Docker engine) is counted with every
 * process below it; the harness is counted as its own process (its threads,
 * which run the generator, included; the stack's processes it started are not).
 *
 * `CpuMeter` accumulates each node's CPU seconds over restarts: a node killed
 * and started again is a new process tree, and its time adds on. It also keeps
 * each node's peak resident memory (the RSS of its tree's processes, summed:
 * pages two of them share count twice, so an upper bound).
 *
 * ```ts
 * const meter = new CpuMeter();
 * meter.sample(new Map([["kafka-1", 4242]]));
 * meter.totals(); // { "kafka-1": 12.3, ... }
 * ```
 * @module
 */

/** Linux's USER_HZ: the unit of /proc's CPU times (100 on every mainstream architecture). */
export const TICKS_PER_SECOND = 100;
/** The unit of /proc's `rss` field: a page (4 KiB on x86-64 and most arm64 kernels). */
const PAGE_BYTES = 4096;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in seconds. */
  cpuS: number;
  /** Resident set size in bytes (absent when the line is cut short). */
  rssB?: number;
}

/** Parses one `/proc/<pid>/stat` line (the command may hold spaces and parentheses). */
export function parseProcStat(line: string): ProcStat | undefined {
  const close = line.lastIndexOf(")");
  if (close < 0) return undefined;
  const pid = Number(line.slice(0, line.indexOf(" ")));
  // After ") ": state(3) ppid(4) ... utime(14) stime(15), numbered from 1 in proc(5).
  const rest = line.slice(close + 2).split(" ");
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (![pid, ppid, utime, stime].every(Number.isFinite)) return undefined;
  const stat: ProcStat = { pid, ppid, cpuS: (utime + stime) / TICKS_PER_SECOND };
  // rss(24): pages.
  const rss = rest.length > 21 ? Number(rest[21]) : NaN;
  if (Number.isFinite(rss)) stat.rssB = rss * PAGE_BYTES;
  return stat;
}

/** Every process of the machine now (those that vanish while read are skipped). */
export function readProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = parseProcStat(Deno.readTextFileSync(`/proc/${entry.name}/stat`));
      if (stat) out.push(stat);
    } catch { /* gone */ }
  }
  return out;
}

/** Every process below `pid` (children, their children...), not `pid` itself. */
export function descendants(processes: readonly ProcStat[], pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of processes) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const out: number[] = [];
  const todo = [...(children.get(pid) ?? [])];
  while (todo.length > 0 && out.length < 100_000) {
    const next = todo.pop()!;
    out.push(next);
    todo.push(...(children.get(next) ?? []));
  }
  return out;
}

/**
 * CPU seconds of each root's process tree; a root inside another root's tree
 * is not counted twice (its time is its own), and `self` roots count their own
 * process only.
 */
export function treeCpu(
  processes: readonly ProcStat[],
  roots: ReadonlyMap<string, number>,
  self: ReadonlySet<string> = new Set(),
): Map<string, number> {
  return treeSum(processes, roots, self, (p) => p.cpuS);
}

/** Resident bytes of each root's process tree, summed, with `treeCpu`'s rules. */
export function treeRss(
  processes: readonly ProcStat[],
  roots: ReadonlyMap<string, number>,
  self: ReadonlySet<string> = new Set(),
): Map<string, number> {
  return treeSum(processes, roots, self, (p) => p.rssB ?? 0);
}

function treeSum(
  processes: readonly ProcStat[],
  roots: ReadonlyMap<string, number>,
  self: ReadonlySet<string>,
  value: (p: ProcStat) => number,
): Map<string, number> {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const rootOf = new Map<number, string>([...roots].map(([name, pid]) => [pid, name]));
  const totals = new Map<string, number>();
  for (const [name, pid] of roots) if (byPid.has(pid)) totals.set(name, 0);
  for (const p of processes) {
    // The nearest root above (or at) this process.
    let at: ProcStat | undefined = p;
    let owner: string | undefined;
    for (let hops = 0; at && hops < 64; hops++) {
      owner = rootOf.get(at.pid);
      if (owner !== undefined) break;
      at = byPid.get(at.ppid);
    }
    if (owner === undefined) continue;
    if (self.has(owner) && p.pid !== roots.get(owner)) continue;
    totals.set(owner, (totals.get(owner) ?? 0) + value(p));
  }
  return totals;
}

/** The machine's CPU seconds, busy and idle (iowait counts as idle), over all cores. */
export function machineCpu(text = Deno.readTextFileSync("/proc/stat")): {
  busyS: number;
  idleS: number;
} {
  const f = text.split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return {
    busyS: (user + nice + system + irq + softirq + (steal ?? 0)) / TICKS_PER_SECOND,
    idleS: (idle + (iowait ?? 0)) / TICKS_PER_SECOND,
  };
}

/** Accumulates each node's CPU seconds across samples, over restarts. */
export class CpuMeter {
  readonly #last = new Map<string, { pid: number; cpuS: number }>();
  readonly #total = new Map<string, number>();
  readonly #rss = new Map<string, number>();
  readonly #peakRss = new Map<string, number>();

  /** Records a sample: the root pid of each node now (absent or undefined: not running). */
  sample(
    roots: ReadonlyMap<string, number | undefined>,
    self: ReadonlySet<string> = new Set(),
    processes: readonly ProcStat[] = readProcesses(),
  ): void {
    const running = new Map([...roots].filter((r): r is [string, number] => r[1] !== undefined));
    const now = treeCpu(processes, running, self);
    for (const [name, cpuS] of now) {
      const pid = running.get(name)!;
      const last = this.#last.get(name);
      // The same tree: what it used since; a new one (restarted): all it used so far.
      const delta = last && last.pid === pid ? Math.max(0, cpuS - last.cpuS) : cpuS;
      this.#total.set(name, (this.#total.get(name) ?? 0) + delta);
      this.#last.set(name, { pid, cpuS });
    }
    this.#rss.clear();
    for (const [name, bytes] of treeRss(processes, running, self)) {
      this.#rss.set(name, bytes);
      this.#peakRss.set(name, Math.max(this.#peakRss.get(name) ?? 0, bytes));
    }
  }

  /** CPU seconds of each node over every sample so far. */
  totals(): Record<string, number> {
    return Object.fromEntries([...this.#total].map(([n, s]) => [n, Math.round(s * 100) / 100]));
  }

  /** Each running node's resident MB at the last sample. */
  rssMb(): Record<string, number> {
    return Object.fromEntries([...this.#rss].map(([n, b]) => [n, mb(b)]));
  }

  /** Each node's largest resident MB over every sample so far. */
  peakRssMb(): Record<string, number> {
    return Object.fromEntries([...this.#peakRss].map(([n, b]) => [n, mb(b)]));
  }
}

/** Bytes as MB of 2^20 bytes (as `bench:scale` counts them), to a tenth. */
function mb(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

/**
 * This process's resident set (`VmRSS`) or its high-water mark (`VmHWM`) in MB, from
 * /proc/self/status (or `status`, its text); null where there is none (not Linux).
 */
export function ownRssMb(field: "VmRSS" | "VmHWM", status?: string): number | null {
  try {
    const text = status ?? Deno.readTextFileSync("/proc/self/status");
    const kb = Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1]);
    return Number.isFinite(kb) && kb > 0 ? mb(kb * 1024) : null;
  } catch {
    return null;
  }
}
