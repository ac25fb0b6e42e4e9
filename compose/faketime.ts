/**
 * The clock of a process as the harness sets it: libfaketime (Debian's
 * `libfaketime`, installed by `ensureFaketime()` in host_tools.ts) preloaded
 * into the process from its start, reading its offset from a file of the run
 * (`<stack data>/faketime/<node>.rc`) that the `clock` fault rewrites while the
 * process runs. Only the wall clock (CLOCK_REALTIME: `Date.now`,
 * `System.currentTimeMillis`, `gettimeofday`) moves: monotonic clocks, and so
 * timers and sleeps, stay real (`FAKETIME_DONT_FAKE_MONOTONIC`; a faked
 * monotonic clock hangs the JVM; `FAKETIME_FORCE_MONOTONIC_FIX=0`: its "fix"
 * makes timed waits spin), and so do files' times (`NO_FAKE_STAT`).
 * The file is re-read every 1 to 2 s (`FAKETIME_CACHE_DURATION=1`:
 * without a cache every clock read opens it, a fifth of Deno's `Date.now`
 * rate and worse for a broker).
 *
 * The file holds `<offset> x<rate>`: `+90 x1` (90 s ahead), `-30 x1`,
 * `+0 x1.01` (1 % fast). libfaketime applies a rate to the time since the
 * process started, so a drift written later jumps at once by (rate - 1) x
 * uptime: `driftOffset()` subtracts that, and the drift starts from the
 * injection. `x1` is always written (a rate, once set, stays until `x1`).
 *
 * What does not work (found by experiment, libfaketime 0.9.10): Redis
 * (Debian's redis-server is linked with jemalloc, which fails at start under
 * the preload: libfaketime#130), and Go programs (MinIO, Toxiproxy read the
 * clock through the vDSO, not libc).
 *
 * ```ts
 * import { faketimeEnv, faketimeFile, formatFaketime, writeFaketime } from "./faketime.ts";
 * const file = faketimeFile("/tmp/run/stack", "detector");
 * await writeFaketime(file, { offset_s: 0, rate: 1 });
 * const env = faketimeEnv("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", file);
 * await writeFaketime(file, { offset_s: 90, rate: 1 }); // the process's clock: 90 s ahead
 * ```
 * @module
 */

import { dirname, join } from "node:path";

/** A clock as libfaketime reads it: seconds ahead (negative: behind) and its rate (1: real). */
export interface ClockSetting {
  offset_s: number;
  rate: number;
}

/** The real clock. */
export const REAL_CLOCK: ClockSetting = { offset_s: 0, rate: 1 };

/** A clock file that cannot be read back, or a process not under the preload. */
export class FaketimeError extends Error {
  override name = "FaketimeError";
}

/** The folder of a stack's clock files, under its data dir. */
export function faketimeDir(dataDir: string): string {
  return join(dataDir, "faketime");
}

/** The clock file of node `node` of the stack whose data dir is `dataDir`. */
export function faketimeFile(dataDir: string, node: string): string {
  return join(faketimeDir(dataDir), `${node}.rc`);
}

/** A number with at most 3 decimals, never in exponent form (libfaketime parses `%lf`-like). */
function decimal(n: number): string {
  const fixed = n.toFixed(3).replace(/\.?0+$/, "");
  return fixed === "-0" ? "0" : fixed;
}

/** The file's line: `+90 x1`, `-30 x1`, `+0 x1.01`. */
export function formatFaketime(clock: ClockSetting): string {
  if (!Number.isFinite(clock.offset_s) || !Number.isFinite(clock.rate) || clock.rate <= 0) {
    throw new FaketimeError(
      `not a clock: offset ${clock.offset_s} s, rate ${clock.rate} (the rate must be > 0)`,
    );
  }
  const offset = decimal(clock.offset_s);
  return `${offset.startsWith("-") ? offset : `+${offset}`} x${decimal(clock.rate)}`;
}

/** Reads a file's line back (`formatFaketime`'s inverse). */
export function parseFaketime(line: string): ClockSetting {
  const m = line.trim().match(/^([+-]\d+(?:\.\d+)?)(?: x(\d+(?:\.\d+)?))?$/);
  if (!m) throw new FaketimeError(`not a clock line: ${JSON.stringify(line)}`);
  return { offset_s: Number(m[1]), rate: m[2] === undefined ? 1 : Number(m[2]) };
}

/**
 * The offset to write for `clock` into the file of a process that started `uptimeS` seconds
 * ago, so that its rate acts from now on: libfaketime applies the rate to the whole uptime.
 */
export function driftOffset(clock: ClockSetting, uptimeS: number): number {
  return clock.offset_s - (clock.rate - 1) * uptimeS;
}

/** The environment that starts a process under libfaketime `lib`, its clock read from `file`. */
export function faketimeEnv(lib: string, file: string): Record<string, string> {
  return {
    LD_PRELOAD: lib,
    FAKETIME_TIMESTAMP_FILE: file,
    FAKETIME_CACHE_DURATION: "1",
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
    // On by default with glibc, it makes every timed wait spin: 8 JVM threads in Object.wait(100)
    // burnt 6 s of CPU in 7 s with it, 0.05 s without; a preloaded broker took 80 s to start.
    FAKETIME_FORCE_MONOTONIC_FIX: "0",
    NO_FAKE_STAT: "1",
  };
}

/** Writes `clock` into `file` at once (a renamed temporary file: never read half-written). */
export async function writeFaketime(file: string, clock: ClockSetting): Promise<string> {
  const line = formatFaketime(clock);
  await Deno.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, `${line}\n`);
  await Deno.rename(tmp, file);
  return line;
}

/**
 * Whether `pid` runs with libfaketime loaded and reading `file` (from /proc); false when gone.
 * With `lib` (the preload the harness started it with), also: its `LD_PRELOAD` names `lib` and
 * that very file is mapped (a library mapped by hand, `dlopen`, without the preload moves no
 * clock: a process that did so is not under it).
 */
export function underFaketime(pid: number, file: string, lib?: string): boolean {
  try {
    const maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
    const environ = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0");
    if (!maps.includes("libfaketime") || !environ.includes(`FAKETIME_TIMESTAMP_FILE=${file}`)) {
      return false;
    }
    if (lib === undefined) return true;
    const preload = environ.find((e) => e.startsWith("LD_PRELOAD="))?.slice("LD_PRELOAD=".length);
    return (preload?.split(/[ :]/).includes(lib) ?? false) && mapsFile(maps, lib);
  } catch {
    return false;
  }
}

/** Whether `maps` (a /proc/<pid>/maps text) maps the file `path` (or the file it links to). */
function mapsFile(maps: string, path: string): boolean {
  let real = path;
  try {
    real = Deno.realPathSync(path);
  } catch {
    // Gone: only its own name can match.
  }
  return maps.split("\n").some((line) => {
    const file = line.split(/\s+/).slice(5).join(" ");
    return file === path || file === real;
  });
}

/**
 * Whether `pid` is a process that lives on (neither a zombie nor exiting: state Z or X, or no
 * mappings left): only those can have dropped a preload. False when gone.
 */
export function processLives(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X" || state === "x") return false;
    return Deno.readTextFileSync(`/proc/${pid}/maps`).trim().length > 0;
  } catch {
    return false;
  }
}

/** What /proc says of one process and the clock preload: for `preloadDrops`. */
export interface PreloadSeen {
  pid: number;
  /** Its real uid; undefined when it is gone. */
  uid?: number;
  /** Its command name (`/proc/<pid>/comm`: the process's own choice, at most 15 bytes). */
  comm?: string;
  /** Its environment has `LD_PRELOAD` naming `lib` and `FAKETIME_TIMESTAMP_FILE=<file>`. */
  environ: boolean;
  /** `lib` itself is mapped into it (loaded: by the preload, or by hand). */
  mapped: boolean;
}

/** How `pid` stands with the preload of `lib` on `file` (from /proc; all false when gone). */
export function preloadSeen(pid: number, lib: string, file: string): PreloadSeen {
  const read = (what: string) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/${what}`);
    } catch {
      return undefined;
    }
  };
  const uid = read("status")?.match(/^Uid:\s+(\d+)/m)?.[1];
  const environ = (read("environ") ?? "").split("\0");
  const preload = environ.find((e) => e.startsWith("LD_PRELOAD="))?.slice("LD_PRELOAD=".length);
  return {
    pid,
    ...(uid === undefined ? {} : { uid: Number(uid) }),
    ...(read("comm") === undefined ? {} : { comm: read("comm")!.trim().slice(0, 15) }),
    environ: (preload?.split(/[ :]/).includes(lib) ?? false) &&
      environ.includes(`FAKETIME_TIMESTAMP_FILE=${file}`),
    mapped: mapsFile(read("maps") ?? "", lib),
  };
}

/** One process that left the preload it was started with: the dodge's evidence. */
export interface PreloadDrop {
  pid: number;
  uid: number;
  comm?: string;
  /** `environ`: it runs without the preload in its environment (removed, or replaced); `mapping`: with it, but not loaded (a program the preload does not reach: static, another libc). */
  how: "environ" | "mapping";
}

/**
 * The processes of a component that dropped the clock preload it was started with, or none.
 * `seen` is every process of the component (`preloadSeen`), `missed` those not under the preload.
 * A process counts only when it runs as a uid of the component's own that is not `harnessUid`
 * (a box's: only the submission's code runs as it) and another process of that uid has the
 * library mapped (the box's init: the preload works there, so its absence is the process's own
 * doing). Only the mapping is taken as that witness, never the witness's environment: a box's
 * process can rewrite its parent's environment (`/proc/<pid>/mem`, same uid) to hide the
 * preload there and turn its own dodge into the harness's failure. A process of the harness's
 * uid, or of a uid none of whose processes has the library mapped, is never the component's: the
 * harness failed (the fault stays unobserved, the run unknown). Pure.
 */
export function preloadDrops(
  seen: readonly PreloadSeen[],
  missed: readonly number[],
  harnessUid: number,
): PreloadDrop[] {
  const preloadedUids = new Set(
    seen.filter((s) => s.mapped && s.uid !== undefined && s.uid !== harnessUid)
      .map((s) => s.uid),
  );
  const drops: PreloadDrop[] = [];
  for (const s of seen) {
    if (!missed.includes(s.pid) || s.uid === undefined || !preloadedUids.has(s.uid)) continue;
    drops.push({
      pid: s.pid,
      uid: s.uid,
      ...(s.comm === undefined ? {} : { comm: s.comm }),
      how: s.environ ? "mapping" : "environ",
    });
  }
  return drops;
}

/** Seconds since `pid` started (from /proc), or undefined when it is gone. */
export function processUptimeS(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
    // USER_HZ is 100 on every Linux the harness runs on.
    return Math.max(0, uptime - startTicks / 100);
  } catch {
    return undefined;
  }
}

/**
 * The clock a new process started with `env` sees, minus the real clock, in seconds: `date` run
 * under the same preload and file as the target (a probe of the file's effect).
 */
export async function probeOffsetS(env: Record<string, string>): Promise<number> {
  const before = Date.now();
  const out = await new Deno.Command("date", {
    args: ["+%s.%N"],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const after = Date.now();
  const text = new TextDecoder().decode(out.stdout).trim();
  const seen = Number(text) * 1000;
  if (!out.success || !Number.isFinite(seen)) {
    throw new FaketimeError(
      `the clock probe failed: ${new TextDecoder().decode(out.stderr).trim() || text}`,
    );
  }
  return Math.round((seen - (before + after) / 2) / 10) / 100;
}

/**
 * The clock of an HTTP server minus the real clock, in whole seconds, from its `Date` header
 * (what the target itself says; undefined when it does not answer or sends none).
 */
export async function httpDateOffsetS(url: string, timeoutMs = 2000): Promise<number | undefined> {
  try {
    const before = Date.now();
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    const after = Date.now();
    const date = Date.parse(res.headers.get("date") ?? "");
    if (!Number.isFinite(date)) return undefined;
    // The header has whole seconds: compare with the real second at the middle of the request.
    return Math.round((date - Math.floor((before + after) / 2000) * 1000) / 1000);
  } catch {
    return undefined;
  }
}
