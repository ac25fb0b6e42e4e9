/**
 * A TCP gate in front of an HTTP server of the harness's own (the webhook receiver): it accepts
 * on a loopback port and relays each connection to the server, which listens on a unix socket in
 * a private folder (0700, root's: a sandboxed pipeline cannot reach it but through the gate).
 * Deno.serve has no cap on connections and no idle timeout; the gate gives both:
 *
 * - at most `maxConnections` open at once: one more is answered `503` and closed at once (it
 *   never holds a descriptor of the harness past that), and counted (`refused`, `onRefuse`);
 * - a connection that sends nothing for `idleMs` while no answer is owed to it is closed; one that
 *   waits for an answer longer than `idleMs` plus the server's longest deliberate delay now
 *   (`owedMs()`: a slow answer on purpose) is closed too (a request stalled half-way).
 *
 * Each open connection costs the harness three descriptors (the accepted one and both ends of the
 * unix socket), so the cap bounds what a pipeline can take of the harness's descriptor limit.
 *
 * The socket's folder (`chaos-gate-<pid>-<start>-…` in the temp folder) is named after the process
 * that made it (its pid and start time: a recycled pid is not it) and removed by `close()`, or when
 * the process exits without it (`unload`). One left by a process that died outright (SIGKILL) is
 * removed by the next gate made on the machine (`removeStaleGates`).
 *
 * ```ts
 * import { ConnectionGate } from "./connection_gate.ts";
 * const gate = new ConnectionGate({ port: 0, maxConnections: 64, idleMs: 30_000 });
 * const server = Deno.serve({ path: gate.socketPath, onListen: () => {} }, handler);
 * gate.start();
 * gate.refused; // connections closed at once, over the cap
 * await gate.close(); await server.shutdown();
 * ```
 * @module
 */

import { join } from "node:path";

/** The gate's bounds by default. */
export const GATE_LIMITS = {
  /** Open connections at most. */
  maxConnections: 512,
  /** A connection idle this long (nothing sent, no answer owed) is closed. */
  idleMs: 30_000,
} as const;

export interface GateOptions {
  /** The loopback port to accept on; 0 picks a free one. */
  port?: number;
  /** Open connections at most (more: 503 and closed at once). Default 512. */
  maxConnections?: number;
  /** Idle connections are closed after this many ms. Default 30 s. */
  idleMs?: number;
  /** How long the server may deliberately take to answer now, in ms (default: 0). */
  owedMs?: () => number;
  /** Called for each connection refused over the cap (with the count so far). */
  onRefuse?: (refused: number) => void;
  /** The folder the socket's private folder is made in. Default: the temp folder (`TMPDIR`). */
  tmpDir?: string;
}

/** The name of a gate's folder: the pid and start time of the process that made it. */
const GATE_DIR = /^chaos-gate-(\d+)-(\d+)-/;

/** A process's start time (clock ticks since boot, /proc/<pid>/stat); undefined: no such process. */
function processStart(pid: number | "self"): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** The paths of the unix sockets listening now (`/proc/net/unix`), if it can be read. */
function listeningSockets(): Set<string> | undefined {
  try {
    return new Set(
      Deno.readTextFileSync("/proc/net/unix").split("\n").slice(1)
        .map((line) => line.trim().split(/\s+/)[7]).filter((p): p is string => Boolean(p)),
    );
  } catch {
    return undefined;
  }
}

/**
 * Removes the gate folders in `dir` whose process is gone: one named after a pid that no longer
 * runs (or runs another program since: its start time differs), and one of the older unnamed
 * kind (`chaos-gate-XXXXXX`) whose socket nobody listens on. Returns the folders removed.
 */
export function removeStaleGates(dir: string): string[] {
  const removed: string[] = [];
  // What cannot see the processes (no /proc, no permission) removes nothing.
  if (processStart("self") === undefined) return removed;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed;
  }
  const listening = listeningSockets();
  for (const entry of entries) {
    if (!entry.isDirectory || !entry.name.startsWith("chaos-gate-")) continue;
    const path = join(dir, entry.name);
    const named = GATE_DIR.exec(entry.name);
    // A socket something listens on is a live gate's, whatever its name says.
    if (listening?.has(join(path, "http.sock"))) continue;
    const stale = named ? processStart(Number(named[1])) !== named[2] : listening !== undefined;
    if (!stale) continue;
    try {
      Deno.removeSync(path, { recursive: true });
      removed.push(path);
    } catch { /* not ours, or gone already */ }
  }
  return removed;
}

/** What an over-the-cap connection is told before it is closed. */
const REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\n" +
    "content-length: 29\r\n\r\ntoo many connections: closed\n",
);

interface Relay {
  outer: Deno.Conn;
  inner?: Deno.Conn;
  /** When the client last sent bytes, and when the server last did (performance.now()). */
  lastIn: number;
  lastOut: number;
  closed: boolean;
}

export class ConnectionGate {
  readonly #listener: Deno.Listener;
  readonly #dir: string;
  readonly #relays = new Set<Relay>();
  readonly #max: number;
  readonly #idleMs: number;
  readonly #owedMs: () => number;
  readonly #onRefuse?: (refused: number) => void;
  #timer?: ReturnType<typeof setInterval>;
  #accepting?: Promise<void>;
  #refused = 0;
  #peak = 0;
  #closed = false;
  readonly port: number;
  /** The unix socket the server behind the gate listens on. */
  readonly socketPath: string;

  constructor(options: GateOptions = {}) {
    this.#max = options.maxConnections ?? GATE_LIMITS.maxConnections;
    this.#idleMs = options.idleMs ?? GATE_LIMITS.idleMs;
    this.#owedMs = options.owedMs ?? (() => 0);
    this.#onRefuse = options.onRefuse;
    if (!(this.#max >= 1) || !(this.#idleMs > 0)) {
      throw new RangeError(
        `a connection gate needs maxConnections >= 1 and idleMs > 0 (got ${this.#max}, ${this.#idleMs})`,
      );
    }
    // 0700: only the harness's user reaches the server but through the gate. Named after this
    // process, so that the next gate removes it if this process dies without removing it.
    const tmpDir = options.tmpDir ?? tempDir();
    removeStaleGates(tmpDir);
    this.#dir = Deno.makeTempDirSync({
      dir: tmpDir,
      prefix: `chaos-gate-${Deno.pid}-${processStart("self") ?? 0}-`,
    });
    this.socketPath = join(this.#dir, "http.sock");
    try {
      this.#listener = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
    } catch (error) {
      this.#unload();
      throw error;
    }
    globalThis.addEventListener("unload", this.#unload);
    this.port = (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Starts accepting (the server must listen on `socketPath` by then). */
  start(): void {
    if (this.#accepting) return;
    this.#accepting = this.#accept();
    const every = Math.max(5, Math.min(1000, Math.floor(this.#idleMs / 4)));
    const timer = this.#timer = setInterval(() => this.#sweep(), every);
    Deno.unrefTimer(timer);
  }

  /** Connections refused over the cap so far. */
  get refused(): number {
    return this.#refused;
  }

  /** Connections open now. */
  get open(): number {
    return this.#relays.size;
  }

  /** The most connections open at once so far. */
  get peak(): number {
    return this.#peak;
  }

  /** The cap on open connections. */
  get maxConnections(): number {
    return this.#max;
  }

  /** The process exits with the gate open: its folder goes (the socket dies with the process). */
  readonly #unload = () => {
    try {
      Deno.removeSync(this.#dir, { recursive: true });
    } catch { /* gone */ }
  };

  /** Stops accepting and closes every connection; the folder of the socket is removed. */
  async close(): Promise<void> {
    this.#closed = true;
    globalThis.removeEventListener("unload", this.#unload);
    clearInterval(this.#timer);
    try {
      this.#listener.close();
    } catch { /* closed */ }
    for (const r of [...this.#relays]) this.#end(r);
    await this.#accepting?.catch(() => {});
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        if (this.#closed) return;
        // Out of descriptors, or a connection reset before it was accepted: go on accepting.
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      if (this.#relays.size >= this.#max) {
        this.#refuse(conn);
        continue;
      }
      const now = performance.now();
      const relay: Relay = { outer: conn, lastIn: now, lastOut: now, closed: false };
      this.#relays.add(relay);
      this.#peak = Math.max(this.#peak, this.#relays.size);
      this.#relay(relay);
    }
  }

  #refuse(conn: Deno.Conn): void {
    this.#refused++;
    this.#onRefuse?.(this.#refused);
    // A fresh socket's send buffer takes the short answer at once; closed whatever happens.
    conn.write(REFUSAL).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch { /* closed */ }
    });
  }

  async #relay(r: Relay): Promise<void> {
    try {
      r.inner = await Deno.connect({ transport: "unix", path: this.socketPath });
    } catch {
      this.#end(r);
      return;
    }
    if (r.closed) {
      this.#end(r);
      return;
    }
    await Promise.all([
      pump(r.outer, r.inner, () => r.lastIn = performance.now()),
      pump(r.inner, r.outer, () => r.lastOut = performance.now()),
    ]);
    this.#end(r);
  }

  /** Closes connections idle for idleMs, or owed an answer for longer than they may wait. */
  #sweep(): void {
    const now = performance.now();
    const owedLimit = this.#idleMs + Math.max(0, this.#owedMs());
    for (const r of this.#relays) {
      const owed = r.lastIn > r.lastOut;
      const since = now - Math.max(r.lastIn, r.lastOut);
      if (owed ? now - r.lastIn > owedLimit : since > this.#idleMs) this.#end(r);
    }
  }

  #end(r: Relay): void {
    r.closed = true;
    this.#relays.delete(r);
    for (const c of [r.outer, r.inner]) {
      try {
        c?.close();
      } catch { /* closed */ }
    }
  }
}

/** The temp folder (`TMPDIR`, else /tmp), as Deno.makeTempDir picks it. */
function tempDir(): string {
  try {
    return Deno.env.get("TMPDIR") || "/tmp";
  } catch {
    return "/tmp"; // no --allow-env
  }
}

/** Copies `from` to `to` until `from` ends or either fails; then half-closes `to`. */
async function pump(from: Deno.Conn, to: Deno.Conn, seen: () => void): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      seen();
      for (let at = 0; at < n;) at += await to.write(buf.subarray(at, n));
    }
    await to.closeWrite().catch(() => {});
  } catch {
    // A read or write failed: the relay ends (its caller closes both).
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  }
}
