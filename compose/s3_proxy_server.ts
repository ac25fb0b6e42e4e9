/**
 * The S3 proxy's server (see s3_proxy.ts for what it is for): a TCP server
 * that reads HTTP/1.1 requests, forwards each request's head and body byte
 * for byte to MinIO over a connection paired with the client's (one upstream
 * connection per client connection, opened at its first forwarded request,
 * closed with it: keep-alive and idle closes stay MinIO's), and the answer
 * back the same way. Bodies are streamed through a 64 KiB buffer, never held
 * whole. A small HTTP control API on another port sets and clears the
 * misbehaviour and reads the counts. Run as a stack process:
 *
 * ```sh
 * deno run --allow-net compose/s3_proxy_server.ts --listen 29012 --upstream 29010 --control 29013
 * ```
 *
 * MinIO is on 127.0.0.1 unless `--upstream-host` says where (the docker
 * stack: MinIO's container, or the remote engine's host).
 * @module
 */

import {
  chunkLineProblem,
  EFFECT_COUNT,
  eligible,
  type Framing,
  NO_COUNTS,
  objectKey,
  parseHead,
  parseMisbehaviour,
  requestFraming,
  requestHeadProblem,
  responseFraming,
  s3ErrorResponse,
  type S3Misbehaviour,
  type S3ProxyCounts,
  S3ProxyError,
  type S3ProxyState,
  strikes,
  wantsClose,
} from "./s3_proxy.ts";

const BUFFER = 64 * 1024;
const MAX_HEAD = 64 * 1024;
const CRLFCRLF = [13, 10, 13, 10];

/** A buffered reader over a connection, for heads, chunk lines and counted copies. */
class Reader {
  #buf = new Uint8Array(BUFFER);
  #start = 0;
  #end = 0;
  constructor(readonly conn: Deno.Conn) {}

  /** Reads more into the buffer; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      if (this.#start === 0) {
        const bigger = new Uint8Array(this.#buf.length * 2);
        bigger.set(this.#buf);
        this.#buf = bigger;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /** Bytes until `\r\n` (included), or until `\r\n\r\n` when `head`; null at a clean end. */
  async #until(head: boolean): Promise<Uint8Array | null> {
    const delimiter = head ? CRLFCRLF : CRLFCRLF.slice(2);
    let scanned = 0; // bytes after #start already searched (the buffer may move on a fill)
    for (;;) {
      const at = findDelimiter(this.#buf, this.#start + scanned, this.#end, delimiter);
      if (at >= 0) {
        const out = this.#buf.slice(this.#start, at);
        this.#start = at;
        return out;
      }
      if (this.#end - this.#start > MAX_HEAD) throw new S3ProxyError("head too long");
      scanned = Math.max(0, this.#end - this.#start - delimiter.length + 1);
      if (!(await this.#fill())) {
        if (this.#end === this.#start) return null;
        throw new S3ProxyError("the connection ended mid-head");
      }
    }
  }

  head(): Promise<Uint8Array | null> {
    return this.#until(true);
  }

  async line(): Promise<Uint8Array> {
    const line = await this.#until(false);
    if (!line) throw new S3ProxyError("the connection ended mid-body");
    return line;
  }

  /** Copies `n` bytes to `out` (or drops them); throws if the stream ends first. */
  async copy(n: number, out: Deno.Conn | undefined): Promise<void> {
    while (n > 0) {
      if (this.#start === this.#end && !(await this.#fill())) {
        throw new S3ProxyError("the connection ended mid-body");
      }
      const take = Math.min(n, this.#end - this.#start);
      if (out) await writeAll(out, this.#buf.subarray(this.#start, this.#start + take));
      this.#start += take;
      n -= take;
    }
  }

  /** Copies everything until the stream ends. */
  async copyToEnd(out: Deno.Conn | undefined): Promise<void> {
    for (;;) {
      if (this.#start < this.#end) {
        if (out) await writeAll(out, this.#buf.subarray(this.#start, this.#end));
        this.#start = this.#end;
      }
      if (!(await this.#fill())) return;
    }
  }
}

/** Index just past the delimiter's end in buf[from, end), or -1. */
function findDelimiter(buf: Uint8Array, from: number, end: number, d: number[]): number {
  for (let i = from; i + d.length <= end; i++) {
    let ok = true;
    for (let j = 0; j < d.length && ok; j++) ok = buf[i + j] === d[j];
    if (ok) return i + d.length;
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/**
 * Copies (or drops, without `out`) one message body framed by `framing`. `strict` (a client's
 * request): a chunk line MinIO could read otherwise than the proxy (chunkLineProblem) ends the
 * connection before it is forwarded.
 */
async function copyBody(
  r: Reader,
  framing: Framing,
  out: Deno.Conn | undefined,
  strict = false,
): Promise<void> {
  if (framing.kind === "length") return await r.copy(framing.length, out);
  if (framing.kind === "close") return await r.copyToEnd(out);
  if (framing.kind === "none") return;
  const check = (line: Uint8Array, kind: "size" | "trailer" | "end") => {
    const problem = strict ? chunkLineProblem(line, kind) : undefined;
    if (problem) throw new S3ProxyError(`refused: ${problem}`);
  };
  for (;;) {
    const line = await r.line();
    check(line, "size");
    if (out) await writeAll(out, line);
    const size = parseInt(new TextDecoder().decode(line).split(";")[0].trim(), 16);
    if (!Number.isSafeInteger(size) || size < 0) throw new S3ProxyError("bad chunk size");
    if (size === 0) {
      // Trailers, then the blank line.
      for (;;) {
        const t = await r.line();
        check(t, "trailer");
        if (out) await writeAll(out, t);
        if (t.length === 2) return;
      }
    }
    if (!strict) {
      await r.copy(size + 2, out);
      continue;
    }
    await r.copy(size, out);
    const end = await r.line();
    check(end, "end");
    if (out) await writeAll(out, end);
  }
}

export interface S3ProxyOptions {
  /** The port clients connect to (0: any free one). */
  listen: number;
  /** MinIO's port. */
  upstream: number;
  /** MinIO's host (default 127.0.0.1). */
  upstreamHost?: string;
  /** The control API's port (0: any free one). */
  control: number;
  hostname?: string;
  /** Draws for the share decision (default Math.random). */
  random?: () => number;
}

/** A running proxy: its ports, its state (for tests in the same process) and how to stop it. */
export interface RunningS3Proxy {
  /** The ports it listens on (as given, or the ones the system chose for 0). */
  port: number;
  controlPort: number;
  state(): S3ProxyState;
  close(): Promise<void>;
}

/** Starts the proxy and its control API. */
export function serveS3Proxy(o: S3ProxyOptions): RunningS3Proxy {
  const hostname = o.hostname ?? "127.0.0.1";
  const upstreamHost = o.upstreamHost ?? "127.0.0.1";
  const random = o.random ?? Math.random;
  let mode: S3Misbehaviour | null = null;
  const counts: S3ProxyCounts = { ...NO_COUNTS };
  /** The keys acted on under the mode in force (the store's objects; else method and target). */
  const struck = new Set<string>();
  const open = new Set<Deno.Conn>();
  let ids = 0;

  const session = async (client: Deno.Conn) => {
    open.add(client);
    const cr = new Reader(client);
    let up: { conn: Deno.Conn; reader: Reader } | undefined;
    try {
      for (;;) {
        const rawHead = await cr.head();
        if (!rawHead) return;
        // A head MinIO could frame otherwise than the proxy ends the connection, unforwarded.
        const problem = requestHeadProblem(rawHead);
        if (problem) throw new S3ProxyError(`refused: ${problem}`);
        const req = parseHead(rawHead);
        const [method, path, version] = req.first;
        counts.seen++;
        const m = mode;
        const request = {
          method,
          path,
          host: req.headers.get("host"),
          contentType: req.headers.get("content-type"),
          extract: req.headers.get("x-amz-snowball-auto-extract"),
        };
        if (eligible(m, request)) counts.store_writes++;
        const act = strikes(m, request, random()) ? m!.mode : undefined;
        if (act) {
          const key = (m!.store && objectKey(request, m!.store.bucket)) || `${method} ${path}`;
          if (!struck.has(key)) {
            struck.add(key);
            counts.struck_keys++;
          }
        }
        const reqFraming = requestFraming(req);
        if (act === "error_500" || act === "slowdown") {
          // A client waiting for "100 Continue" sends no body: answer at once and close.
          const waits = /100-continue/i.test(req.headers.get("expect") ?? "");
          if (!waits) await copyBody(cr, reqFraming, undefined, true);
          counts[EFFECT_COUNT[act]]++;
          const close = waits || wantsClose(req, version);
          const id = `CHAOS${(++ids).toString(16).toUpperCase().padStart(12, "0")}`;
          await writeAll(client, s3ErrorResponse(act, { method, path }, id, close));
          if (close) return;
          continue;
        }
        if (act === "stall") {
          counts.stalled++;
          await new Promise((r) => setTimeout(r, m!.stall_ms ?? 0));
        }
        if (!up) {
          const conn = await Deno.connect({ hostname: upstreamHost, port: o.upstream });
          open.add(conn);
          up = { conn, reader: new Reader(conn) };
        }
        await writeAll(up.conn, rawHead);
        if (act === "reset" && reqFraming.kind !== "none") {
          // Half the body reaches MinIO, then both connections are cut.
          const half = reqFraming.kind === "length" ? Math.floor(reqFraming.length / 2) : 0;
          await cr.copy(half, up.conn);
          counts.reset++;
          return;
        }
        await copyBody(cr, reqFraming, up.conn, true);
        let resHead: Uint8Array | null;
        let res;
        for (;;) {
          resHead = await up.reader.head();
          if (!resHead) return; // MinIO closed: so does the client's connection
          res = parseHead(resHead);
          const status = Number(res.first[1]);
          if (status >= 100 && status < 200) {
            await writeAll(client, resHead); // "100 Continue" is no answer: even lost_answer sends it
            continue;
          }
          break;
        }
        const status = Number(res.first[1]);
        const resFraming = responseFraming(res, method);
        if (act === "lost_answer" && status >= 200 && status < 300) {
          await copyBody(up.reader, resFraming, undefined);
          counts.lost_answer++;
          return;
        }
        if (act === "reset") {
          // A request without a body: the answer's head and half its body, then the cut.
          if (resFraming.kind !== "none") {
            await writeAll(client, resHead);
            if (resFraming.kind === "length") {
              await up.reader.copy(Math.floor(resFraming.length / 2), client);
            }
          }
          counts.reset++;
          return;
        }
        await writeAll(client, resHead);
        await copyBody(up.reader, resFraming, client);
        if (resFraming.kind === "close" || wantsClose(req, version) || wantsClose(res, version)) {
          return;
        }
      }
    } catch {
      // A client or MinIO that went away, or bytes that are not HTTP: the connection ends.
    } finally {
      for (const c of [client, up?.conn]) {
        if (!c) continue;
        open.delete(c);
        try {
          c.close();
        } catch { /* closed already */ }
      }
    }
  };

  const listener = Deno.listen({ hostname, port: o.listen });
  // Accepts until the listener is closed; a refused accept (out of descriptors) waits, then goes
  // on (a loop that ended there served nothing more for the rest of the run).
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* not TCP */ }
      session(conn);
    }
  })();

  const state = (): S3ProxyState => ({ mode, counts: { ...counts } });
  const control = Deno.serve({
    hostname,
    port: o.control,
    onListen: () => {},
  }, async (request) => {
    if (request.method === "GET") return Response.json(state());
    if (request.method === "DELETE") {
      mode = null;
      return Response.json(state());
    }
    if (request.method === "PUT") {
      try {
        mode = parseMisbehaviour(await request.json());
        struck.clear();
      } catch (error) {
        return new Response(String((error as Error).message), { status: 400 });
      }
      return Response.json(state());
    }
    return new Response("GET, PUT or DELETE /", { status: 405 });
  });

  return {
    port: (listener.addr as Deno.NetAddr).port,
    controlPort: control.addr.port,
    state,
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
      await accepting;
      await control.shutdown();
    },
  };
}

/** `--name value` flags of the command line. */
function flag(args: string[], name: string): number {
  const at = args.indexOf(`--${name}`);
  const value = Number(args[at + 1]);
  if (at < 0 || !Number.isInteger(value) || value < 1 || value > 65535) {
    console.error(`s3 proxy: --${name} <port> is required, got ${args[at + 1]}`);
    Deno.exit(2);
  }
  return value;
}

/** The `--upstream-host` flag: a host name or address (default 127.0.0.1); undefined if bad. */
export function upstreamHostFlag(args: readonly string[]): string | undefined {
  const at = args.indexOf("--upstream-host");
  if (at < 0) return "127.0.0.1";
  const host = args[at + 1];
  return host !== undefined && /^[A-Za-z0-9.:-]+$/.test(host) ? host : undefined;
}

if (import.meta.main) {
  const args = Deno.args;
  const upstreamHost = upstreamHostFlag(args);
  if (!upstreamHost) {
    console.error(`s3 proxy: --upstream-host <host> must be a host name or address`);
    Deno.exit(2);
  }
  const o = { listen: flag(args, "listen"), upstream: flag(args, "upstream"), upstreamHost };
  serveS3Proxy({ ...o, control: flag(args, "control") });
  console.error(`s3 proxy: 127.0.0.1:${o.listen} -> ${upstreamHost}:${o.upstream}`);
  for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, () => Deno.exit(0));
}
