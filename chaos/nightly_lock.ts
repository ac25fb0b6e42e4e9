/**
 * One night at a time: the night holds `<out>/nightly.lock` (a JSON file with
 * its pid, start time and date, created exclusively). A second night started
 * while the first runs does not run: it appends what it found to
 * `<out>/skipped.jsonl` ("still running since …"), which `--status` and the
 * next night's summary and announcement report. A lock whose pid is gone (a
 * night killed with SIGKILL, a reboot) is stale and taken over.
 *
 * ```ts
 * import { acquireNightLock } from "./nightly_lock.ts";
 * const lock = await acquireNightLock(out, date);
 * if (!lock.acquired) { console.log(lock.why); } else try { ... } finally { await lock.release(); }
 * ```
 * @module
 */

import { join } from "node:path";
import { processStartTime, processState } from "../compose/process_node.ts";

export interface LockHolder {
  pid: number;
  /** The process's start time (/proc), telling it from a later one with its pid. */
  proc_start?: string;
  started: string;
  date: string;
}

/** A night that did not run because another still ran. */
export interface SkippedNight {
  at: string;
  date: string;
  pid: number;
  holder: LockHolder;
}

export type NightLock =
  | { acquired: true; release(): Promise<void> }
  | { acquired: false; holder: LockHolder; why: string };

/**
 * Whether the night holding a lock still runs: its pid alive, and (when the lock says) the same
 * process, not another that reuses the pid after a reboot (compose/process_node.ts).
 */
export function holderAlive(holder: LockHolder): boolean {
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  const start = typeof holder.proc_start === "string" ? holder.proc_start : undefined;
  return processState(holder.pid, start) !== "dead";
}

export const lockPath = (out: string) => join(out, "nightly.lock");
export const skippedPath = (out: string) => join(out, "skipped.jsonl");

/** Takes the night's lock, or says who holds it (and records the skipped night). */
export async function acquireNightLock(
  out: string,
  date: string,
  alive: (holder: LockHolder) => boolean | Promise<boolean> = holderAlive,
): Promise<NightLock> {
  await Deno.mkdir(out, { recursive: true });
  const path = lockPath(out);
  const me: LockHolder = {
    pid: Deno.pid,
    proc_start: processStartTime(Deno.pid),
    started: new Date().toISOString(),
    date,
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(path, JSON.stringify(me), { createNew: true });
      return {
        acquired: true,
        release: async () => {
          try {
            const now = JSON.parse(await Deno.readTextFile(path)) as LockHolder;
            if (now.pid === me.pid && now.started === me.started) await Deno.remove(path);
          } catch { /* already gone */ }
        },
      };
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    let holder: LockHolder | null = null;
    try {
      holder = JSON.parse(await Deno.readTextFile(path));
    } catch { /* half written or removed meanwhile: stale */ }
    if (holder && await alive(holder)) {
      const skipped: SkippedNight = { at: me.started, date, pid: me.pid, holder };
      await Deno.writeTextFile(skippedPath(out), JSON.stringify(skipped) + "\n", { append: true });
      return {
        acquired: false,
        holder,
        why: `the night of ${holder.date} is still running since ${holder.started} ` +
          `(pid ${holder.pid}); this one (${date}) did not run`,
      };
    }
    await Deno.remove(path).catch(() => {}); // stale
  }
  throw new Error(`could not take ${path}: it keeps coming back`);
}

/** The skipped nights recorded, oldest first. */
export async function readSkipped(out: string): Promise<SkippedNight[]> {
  try {
    return (await Deno.readTextFile(skippedPath(out))).split("\n").filter(Boolean)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as SkippedNight];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}
