/**
 * The socket guard: a graded pipeline's boxes share the host's network namespace
 * (compose/sandbox.ts), so its sockets take the host's ports. A box that
 * `listen()`s on thousands of unbound sockets (no packet: its firewall's
 * connection bounds never see them; an explicit bind, of port 0 too, its Landlock
 * domain refuses where a box's policy gives no ports) takes the whole
 * `ip_local_port_range`, and every new outgoing connection of the host (the
 * harness's, another grading's) then fails with EADDRNOTAVAIL. The guard bounds
 * the sockets each box holds (`CHAOS_SANDBOX_SOCKETS`, DEFAULT_SOCKETS; an honest
 * pipeline holds tens to a few hundred):
 *
 * - Every `intervalMs` (500 ms) it counts each box's sockets: the TCP and UDP
 *   sockets of the box's uid as the kernel's sock_diag lists them (a helper of the
 *   harness's: compose/socket_diag.ts; every state, a TCP socket bound without
 *   listening or connecting too, with or without a descriptor: one in flight in a
 *   unix socket's queue, an io_uring's fixed file), united by inode with the
 *   sockets its processes hold open (`/proc/<pid>/fd` links `socket:[inode]`, the
 *   processes of its memory cgroup, else of its uid; unix sockets count too: they
 *   take no port, but nothing honest holds thousands). Where the helper cannot be
 *   built (no `cc`) the uid column of `/proc/net/{tcp,tcp6,udp,udp6}` stands in:
 *   it lists no bound-only TCP socket, so those are then seen only behind a
 *   descriptor (the history says so once).
 * - A box over its bound is stopped at once (every process of its uid killed: its
 *   ports are the host's again) and `stop()` returns the finding, which the engine
 *   makes the submission's failure: the run FAILS ("the sink's sandbox held 2,400
 *   sockets of the host (bound 2048, CHAOS_SANDBOX_SOCKETS): it was stopped"),
 *   whatever the run hit after (its component gone, the host's ports scarce for a
 *   while). The history has `socket-guard` with the count.
 *
 * The work per check: one helper run (under 10 ms on a host of a few thousand
 * sockets; 100-200 ms while 20,000 bound ones fill the kernel's table, i.e. until
 * the box is stopped) and one `readlink` per descriptor of the boxes, cut short
 * once a box holds SCAN_CAP_FACTOR times its bound.
 *
 * ```ts
 * import { SocketGuard } from "./socket_guard.ts";
 * const guard = SocketGuard.start({ boxes: [{ name: "sink", box }], history });
 * // … the run …
 * const finding = await guard.stop(); // "the sink's sandbox held 2400 sockets of the host …"
 * ```
 * @module
 */

import { join } from "node:path";
import { DEFAULT_SOCKETS } from "../compose/sandbox_bounds.ts";
import { DEFAULT_BASE, processesOf, type Sandbox } from "../compose/sandbox.ts";
import { diagSockets, socketDiagHelper } from "../compose/socket_diag.ts";
import { sleep } from "../lib/wait.ts";
import type { History } from "../validate/history.ts";

/** The host's socket tables that name each socket's uid (this network namespace's). */
export const PROC_NET_TABLES = [
  "/proc/net/tcp",
  "/proc/net/tcp6",
  "/proc/net/udp",
  "/proc/net/udp6",
] as const;

/** A box's descriptors are read no further once it holds this many times its bound. */
export const SCAN_CAP_FACTOR = 4;

/**
 * Adds to `out` (uid → socket inodes) the sockets of a /proc/net/{tcp,tcp6,udp,udp6} table's text
 * owned by a uid of `uids`. Lines that are not a socket's (the header, blanks) are skipped; the
 * inode 0 (a TIME_WAIT or orphaned socket: no longer the box's) too.
 */
export function addTableSockets(
  text: string,
  uids: ReadonlySet<number>,
  out: Map<number, Set<number>>,
): void {
  // Only the lines that name a uid are split (a host's tables may hold 30,000 lines).
  for (const uid of uids) {
    const needle = ` ${uid} `;
    for (let at = text.indexOf(needle); at >= 0;) {
      const start = text.lastIndexOf("\n", at) + 1;
      let end = text.indexOf("\n", at);
      if (end < 0) end = text.length;
      at = text.indexOf(needle, end);
      // "  sl  local rem st tx:rx tr:when retrnsmt uid timeout inode …"
      const fields = text.slice(start, end).trim().split(/\s+/);
      if (fields.length < 10 || !/^\d+:$/.test(fields[0]) || Number(fields[7]) !== uid) continue;
      const inode = Number(fields[9]);
      if (!Number.isInteger(inode) || inode <= 0) continue;
      let set = out.get(uid);
      if (!set) out.set(uid, set = new Set());
      set.add(inode);
    }
  }
}

/** The socket inode a descriptor's link names (`socket:[123]`), or undefined. */
export function socketInode(link: string): number | undefined {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

/**
 * Adds to `into` the sockets the processes `pids` hold open (`/proc/<pid>/fd`), until `into` holds
 * `cap`: then it stops (the box is over its bound whatever the rest holds). Gone processes and
 * descriptors closed meanwhile are skipped.
 */
export function addHeldSockets(pids: readonly number[], into: Set<number>, cap: number): void {
  for (const pid of pids) {
    const dir = `/proc/${pid}/fd`;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const e of entries) {
      if (into.size >= cap) return;
      try {
        const inode = socketInode(Deno.readLinkSync(join(dir, e.name)));
        if (inode !== undefined) into.add(inode);
      } catch { /* closed */ }
    }
  }
}

/** Pids of a box: its memory cgroup's (`cgroup.procs`), else every live process of its uid. */
export function boxPids(box: Pick<Sandbox, "uid" | "memoryCgroup">): number[] {
  if (box.memoryCgroup) {
    try {
      return Deno.readTextFileSync(join(box.memoryCgroup, "cgroup.procs")).split("\n")
        .filter(Boolean).map(Number);
    } catch { /* gone or none: by uid */ }
  }
  return processesOf(box.uid);
}

/** True when a box holding `count` sockets is over its `bound` (the bound itself is allowed). */
export function overBound(count: number, bound: number): boolean {
  return count > bound;
}

/** The finding for a box (`who`: "the sink's sandbox") stopped holding `count` sockets. */
export function socketFinding(who: string, count: number, bound: number, capped = false): string {
  return `${who} held ${capped ? "at least " : ""}${count} sockets of the host (bound ${bound}, ` +
    `CHAOS_SANDBOX_SOCKETS): it was stopped. A box shares the host's ports: holding them fails ` +
    `every other program's new connections`;
}

/** One box the guard watches. */
export interface GuardedBox {
  /** What runs in it ("sink", "detector", "pipeline"). */
  name: string;
  box: Pick<Sandbox, "uid" | "memoryCgroup" | "bounds" | "sweep">;
  /** Its log, as the finding names it. Default `logs/<name>.log` (a run folder's). */
  log?: string;
}

export interface SocketGuardOptions {
  boxes: readonly GuardedBox[];
  history: History;
  /** Default 500. */
  intervalMs?: number;
  /** The tables read without the helper (tests give fixtures). Default PROC_NET_TABLES. */
  tables?: readonly string[];
  /**
   * The socket helper (compose/socket_diag.ts) the counts come from; null: the `tables` instead.
   * Default: the one under DEFAULT_BASE, built at the first count (the tables where it cannot be).
   */
  diag?: string | null;
}

/** One count of the guard's (`SocketGuard.check`): each box's sockets, and who was stopped. */
export interface SocketCount {
  name: string;
  uid: number;
  sockets: number;
  bound: number;
  capped: boolean;
}

/** The guard (see the module's doc). */
export class SocketGuard {
  readonly #o: Required<Omit<SocketGuardOptions, "diag">>;
  /** The helper's path; null: the tables; undefined: not looked for yet. */
  #diag: string | null | undefined;
  #stopped = false;
  #loop: Promise<void> = Promise.resolve();
  #wake?: AbortController;
  #finding?: string;
  /** The most each box was seen holding. */
  readonly #peaks = new Map<string, number>();

  private constructor(o: SocketGuardOptions) {
    const { diag, ...rest } = o;
    this.#o = { intervalMs: 500, tables: PROC_NET_TABLES, ...rest };
    this.#diag = diag;
  }

  /** A guard that counts until `stop()` (none when there is no box to watch). */
  static start(o: SocketGuardOptions): SocketGuard {
    const guard = new SocketGuard(o);
    if (o.boxes.length > 0) guard.#loop = guard.#run();
    return guard;
  }

  /** A guard that counts only when `check()` is called (tests). */
  static manual(o: SocketGuardOptions): SocketGuard {
    return new SocketGuard(o);
  }

  /** The finding so far (the first box stopped), or undefined. */
  get finding(): string | undefined {
    return this.#finding;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.check().catch((error) =>
        this.#o.history.record("info", "socket-guard", `count failed: ${error}`)
      );
      if (this.#stopped) break;
      this.#wake = new AbortController();
      await sleep(this.#o.intervalMs, this.#wake.signal).catch(() => {});
    }
  }

  /** Counts every box's sockets once, and stops each one over its bound. */
  async check(): Promise<SocketCount[]> {
    const uids = new Set(this.#o.boxes.map((b) => b.box.uid));
    const byUid = await this.#tableSockets(uids);
    const counts: SocketCount[] = [];
    for (const { name, box, log } of this.#o.boxes) {
      const bound = box.bounds?.sockets ?? DEFAULT_SOCKETS;
      const cap = bound * SCAN_CAP_FACTOR;
      const sockets = new Set(byUid.get(box.uid));
      addHeldSockets(boxPids(box), sockets, cap);
      const count = {
        name,
        uid: box.uid,
        sockets: sockets.size,
        bound,
        capped: sockets.size >= cap,
      };
      counts.push(count);
      this.#peaks.set(name, Math.max(this.#peaks.get(name) ?? 0, sockets.size));
      if (!overBound(count.sockets, bound)) continue;
      const who = `the ${name}'s sandbox`;
      const line = socketFinding(who, count.sockets, bound, count.capped);
      const survivors = await box.sweep(2_000);
      this.#o.history.record("fail", "socket-guard", {
        box: name,
        uid: box.uid,
        sockets: count.sockets,
        at_least: count.capped,
        bound,
        survivors: survivors.length,
      });
      this.#finding ??= `${line} (see ${log ?? `logs/${name}.log`})`;
    }
    return counts;
  }

  /** Each uid's TCP and UDP sockets: from the helper, else from the /proc/net tables. */
  async #tableSockets(uids: ReadonlySet<number>): Promise<Map<number, Set<number>>> {
    if (this.#diag === undefined) {
      const helper = await socketDiagHelper(DEFAULT_BASE).catch((error) => ({
        problem: `cannot build the socket helper: ${error}`,
      }));
      this.#diag = "path" in helper ? helper.path : null;
      if ("problem" in helper) this.#fallBack(helper.problem);
    }
    if (this.#diag) {
      try {
        return await diagSockets(this.#diag, [...uids]);
      } catch (error) {
        this.#diag = null; // said once, not twice a second
        this.#fallBack(String(error));
      }
    }
    const byUid = new Map<number, Set<number>>();
    for (const table of this.#o.tables) {
      let text: string;
      try {
        text = Deno.readTextFileSync(table);
      } catch {
        continue; // no IPv6 here
      }
      addTableSockets(text, uids, byUid);
    }
    return byUid;
  }

  /** Records once that the counts come from /proc/net and descriptors from now on (`why`). */
  #fallBack(why: string): void {
    this.#o.history.record(
      "info",
      "socket-guard",
      `${why}: counting from /proc/net and descriptors (a bound-only TCP socket without a ` +
        "descriptor is not seen)",
    );
  }

  /** Stops counting (one last count first); the finding, if a box was stopped. */
  async stop(): Promise<string | undefined> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#wake?.abort();
      await this.#loop;
      if (this.#o.boxes.length > 0) {
        await this.check().catch((error) =>
          this.#o.history.record("info", "socket-guard", `count failed: ${error}`)
        );
      }
      this.#o.history.record("info", "socket-guard", { peaks: Object.fromEntries(this.#peaks) });
    }
    return this.#finding;
  }
}
