/**
 * The harness's own limit on open files (RLIMIT_NOFILE), raised: a graded pipeline's connections
 * to the harness (the webhook receiver, each open one three descriptors of the harness) must not
 * run it out of descriptors while it still has to write the run folder. Deno already raises its
 * soft limit to the hard one when it starts (so `ulimit -Sn` alone changes nothing); as root the
 * grader raises the hard limit too, to RAISED_NOFILE (or the kernel's `fs.nr_open` when lower).
 * Deno has no setrlimit: util-linux `prlimit --pid <own pid>` sets it on the running process.
 * What the harness starts afterwards inherits it; a box sets its own lower bound (sandbox_bounds.ts).
 *
 * ```ts
 * import { nofileLimit, raiseNofileLimit } from "./nofile.ts";
 * raiseNofileLimit(); // { soft: 262144, hard: 262144 } (with a problem: why it stayed lower)
 * nofileLimit(); // as /proc/self/limits says now
 * ```
 * @module
 */

/** The limit on open files root raises the harness's to (soft and hard). */
export const RAISED_NOFILE = 262_144;

/** The soft and hard limits on open files of `pid` (this process by default). */
export function nofileLimit(pid: number | "self" = "self"): { soft: number; hard: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/limits`);
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) throw new Error(`no "Max open files" line in /proc/${pid}/limits`);
  const n = (v: string) => v === "unlimited" ? Infinity : Number(v);
  return { soft: n(m[1]), hard: n(m[2]) };
}

/** The kernel's ceiling on a process's open files (`fs.nr_open`). */
function nrOpen(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/fs/nr_open").trim()) || RAISED_NOFILE;
  } catch {
    return RAISED_NOFILE;
  }
}

/**
 * Raises this process's limits on open files: as root both to RAISED_NOFILE (at most `nr_open`),
 * else the soft one to the hard one. Never lowers them. The limits after, and why they are lower
 * than wanted when they are (no prlimit, not Linux).
 */
export function raiseNofileLimit(): { soft: number; hard: number; problem?: string } {
  if (Deno.build.os !== "linux") {
    return { soft: NaN, hard: NaN, problem: `not raised on ${Deno.build.os}` };
  }
  const before = nofileLimit();
  const want = Deno.uid() === 0
    ? Math.max(before.hard, Math.min(RAISED_NOFILE, nrOpen()))
    : before.hard;
  if (before.soft >= want) return before;
  const value = want === Infinity ? "unlimited" : String(want);
  let problem: string | undefined;
  try {
    const out = new Deno.Command("prlimit", {
      args: ["--pid", String(Deno.pid), `--nofile=${value}:${value}`],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!out.success) problem = new TextDecoder().decode(out.stderr).trim() || `exit ${out.code}`;
  } catch (error) {
    problem = `prlimit (util-linux) cannot run: ${(error as Error).message}`;
  }
  const after = nofileLimit();
  if (!problem && after.soft < want) problem = `still ${after.soft} after prlimit`;
  return problem ? { ...after, problem } : after;
}
