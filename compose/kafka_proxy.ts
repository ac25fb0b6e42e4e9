/**
 * The kafka proxy: a proxy that speaks the Kafka wire protocol, in front of
 * each broker's client listener on the local stack (clients → this proxy →
 * the broker's Toxiproxy client port → the broker; the brokers advertise its
 * ports, see kafka_proxy_control.ts). It cuts both directions into frames,
 * matches answers to requests by correlation id (in order, per connection),
 * and passes everything through untouched while no mode is set, but for one
 * rewrite: the ApiVersions answer offers the APIs it can answer errors for
 * at most the versions it encodes (kafka_wire.ts `VERSION_CAPS`). With a mode
 * (kafka_proxy_mode.ts) it answers an error instead of forwarding, holds one
 * API's answers back, or forwards a Produce and drops its answer; it counts
 * what it did per broker and API. Each broker has a listener per pipeline
 * component besides the harness's (kafka_proxy_routes.ts): a mode targets a
 * component by the listener a request came in on, never by its client id,
 * and on a component's listener every answer that names brokers names the
 * component's ports. One process serves every broker; a small
 * HTTP API controls it (`GET /health`, `GET /counts`, `PUT /mode`,
 * `DELETE /mode`). Started by kafka_proxy_main.ts.
 *
 * ```ts
 * import { KafkaProxy } from "./kafka_proxy.ts";
 * const proxy = new KafkaProxy([{ broker: 1, listen: 29116, upstream: 29111 }]);
 * proxy.serve(29106);
 * ```
 * @module
 */

import {
  API_KEYS,
  apiName,
  capApiVersions,
  FrameBuffer,
  requestHeader,
  responseCorrelationId,
  VERSION_CAPS,
} from "./kafka_wire.ts";
import { errorAnswer, produceAcks, rewriteMetadataErrors } from "./kafka_wire_errors.ts";
import { rewriteCoordinatorPort, rewriteMetadataPorts, routing } from "./kafka_proxy_routes.ts";
import {
  type BrokerCounts,
  bump,
  decide,
  type Decision,
  emptyCounts,
  type KafkaProxyMode,
  modeProblems,
  type ProxyCounts,
  type ProxyListener,
} from "./kafka_proxy_mode.ts";

/** One broker's route: the port clients reach, and where the proxy forwards to. */
export interface Route {
  broker: number;
  listen: number;
  upstream: number;
  /** Whose listener it is (default `harness`: the broker's advertised port). */
  listener?: ProxyListener;
}

/** A request the proxy refuses on a component's listener (the connection is cut). */
export class RefusedRequest extends Error {
  override name = "RefusedRequest";
}

/** A request waiting for its answer to go out, in the order the requests came. */
interface Slot {
  correlationId: number;
  apiKey: number;
  apiVersion: number;
  /** Forwarded: its answer comes from the broker. */
  upstream: boolean;
  answer?: Uint8Array;
  /** Its answer is dropped instead of sent. */
  drop?: boolean;
  /** Not sent before this time (ms). */
  notBefore?: number;
  /** Metadata: the error code its answer's topics get. */
  rewrite?: number;
  /** On a component's listener: its answer names brokers, set to the component's ports. */
  route?: boolean;
}

export class KafkaProxy {
  readonly routes: readonly Route[];
  readonly host: string;
  /** Where the routes' upstream ports are (default `host`; the docker stack: Toxiproxy's). */
  readonly upstreamHost: string;
  mode: KafkaProxyMode | undefined;
  readonly counts: ProxyCounts = {};
  /** The port each broker's harness route listens on, by broker id (`listen: 0`: the one it got). */
  readonly bound = new Map<number, number>();
  /** The port of each route, by `listener/broker`. */
  readonly #ports = new Map<string, number>();
  readonly #listeners: Deno.TcpListener[] = [];
  readonly #conns = new Set<Deno.Conn>();
  #server?: Deno.HttpServer;
  readonly #dice: () => number;
  readonly #log: (line: string) => void;

  constructor(
    routes: readonly Route[],
    options: {
      host?: string;
      upstreamHost?: string;
      dice?: () => number;
      log?: (line: string) => void;
    } = {},
  ) {
    this.routes = routes;
    this.host = options.host ?? "127.0.0.1";
    this.upstreamHost = options.upstreamHost ?? this.host;
    this.#dice = options.dice ?? Math.random;
    this.#log = options.log ?? ((line) => console.log(line));
    for (const r of routes) this.counts[r.broker] = emptyCounts();
  }

  /** Listens on every route's port and, when given, serves the control API on `control`. */
  serve(control?: number): void {
    for (const route of this.routes) {
      const listener = Deno.listen({ hostname: this.host, port: route.listen });
      const name = route.listener ?? "harness";
      if (name === "harness") this.bound.set(route.broker, listener.addr.port);
      this.#ports.set(`${name}/${route.broker}`, listener.addr.port);
      this.#listeners.push(listener);
      this.#accept(listener, route);
    }
    if (control !== undefined) {
      this.#server = Deno.serve(
        { hostname: this.host, port: control, onListen: () => {} },
        (req) => this.#control(req),
      );
    }
  }

  /** Sets the mode, or clears it (undefined); returns its problems instead when it is invalid. */
  setMode(mode: KafkaProxyMode | undefined): string[] {
    const problems = mode ? modeProblems(mode) : [];
    if (problems.length === 0) {
      this.mode = mode;
      this.#log(`mode ${mode ? JSON.stringify(mode) : "cleared"}`);
    }
    return problems;
  }

  /** The port broker `broker`'s route of `listener` listens on (undefined: none). */
  portOf(listener: ProxyListener, broker: number): number | undefined {
    return this.#ports.get(`${listener}/${broker}`);
  }

  async close(): Promise<void> {
    for (const l of this.#listeners) l.close();
    for (const c of this.#conns) c.close();
    this.#conns.clear();
    await this.#server?.shutdown();
  }

  async #control(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const json = (body: unknown, status = 200) => Response.json(body, { status });
    if (req.method === "GET" && path === "/health") return json({ ok: true });
    if (req.method === "GET" && path === "/counts") {
      return json({ mode: this.mode ?? null, counts: this.counts });
    }
    if (path === "/mode" && req.method === "DELETE") {
      this.setMode(undefined);
      return json({ mode: null, counts: this.counts });
    }
    if (path === "/mode" && req.method === "PUT") {
      let mode: KafkaProxyMode;
      try {
        mode = await req.json();
      } catch (error) {
        return json({ problems: [`the body is not JSON: ${(error as Error).message}`] }, 400);
      }
      const problems = this.setMode(mode);
      if (problems.length) return json({ problems }, 400);
      return json({ mode: this.mode, counts: this.counts });
    }
    return json({ problems: [`no ${req.method} ${path}`] }, 404);
  }

  /** Accepts until the listener is closed; a refused accept (out of descriptors) waits, then goes on. */
  async #accept(listener: Deno.TcpListener, route: Route): Promise<void> {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept();
      } catch (error) {
        if (listenerClosed(error)) return;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      this.#connect(client, route);
    }
  }

  async #connect(client: Deno.TcpConn, route: Route): Promise<void> {
    const counts = this.counts[route.broker];
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname: this.upstreamHost, port: route.upstream });
    } catch {
      client.close();
      return;
    }
    counts.connections++;
    bump(counts.listeners, route.listener ?? "harness");
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.#conns.add(client);
    this.#conns.add(upstream);
    const conn = new Connection(
      client,
      upstream,
      route.broker,
      route.listener ?? "harness",
      counts,
      this,
    );
    await conn.run().catch((error) => this.#log(`broker ${route.broker}: ${error}`));
    this.#conns.delete(client);
    this.#conns.delete(upstream);
  }

  /** For a connection: the decision on one request (mode and dice). */
  decide(request: { broker: number; apiKey: number; listener: ProxyListener }): Decision {
    return decide(this.mode, request, this.#dice);
  }
}

/** One client connection and its own connection to the broker. */
class Connection {
  readonly #slots: Slot[] = [];
  #writing: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    readonly client: Deno.TcpConn,
    readonly upstream: Deno.TcpConn,
    readonly broker: number,
    readonly listener: ProxyListener,
    readonly counts: BrokerCounts,
    readonly proxy: KafkaProxy,
  ) {}

  async run(): Promise<void> {
    try {
      await Promise.race([this.#requests(), this.#answers()]);
    } finally {
      this.#closed = true;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      for (const c of [this.client, this.upstream]) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    }
  }

  /** Client → broker: each request forwarded, or answered here. */
  async #requests(): Promise<void> {
    const frames = new FrameBuffer();
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await this.client.read(buf);
      if (n === null) return;
      const out: Uint8Array[] = [];
      let answered = false;
      for (const f of frames.push(buf.subarray(0, n))) {
        if (this.#request(f)) out.push(f);
        else answered = true;
      }
      if (answered) this.#flush();
      if (out.length) await writeAll(this.upstream, framed(out));
    }
  }

  /** Decides on one request; true when it goes to the broker. */
  #request(f: Uint8Array): boolean {
    const h = requestHeader(f);
    const api = apiName(h.apiKey);
    bump(this.counts.requests, api);
    const slot: Slot = {
      correlationId: h.correlationId,
      apiKey: h.apiKey,
      apiVersion: h.apiVersion,
      upstream: true,
    };
    // On a component's listener, an answer that names brokers must name the component's ports.
    if (this.listener !== "harness") {
      const how = routing(h.apiKey, h.apiVersion);
      if (how === "refuse") {
        bump(this.counts.refused, api);
        throw new RefusedRequest(
          `${api} v${h.apiVersion} on the ${this.listener}'s listener: its answer would name ` +
            "brokers at ports the proxy cannot point at the component's; connection cut",
        );
      }
      slot.route = how === "rewrite";
    }
    // Versions above the caps (a client that did not ask ApiVersions) are only passed on.
    const readable = h.apiVersion <= (VERSION_CAPS[h.apiKey] ?? -1);
    // A Produce with acks 0 has no answer: nothing to wait for, nothing to answer.
    if (h.apiKey === API_KEYS.Produce && readable && produceAcks(f, h) === 0) return true;
    const d = this.proxy.decide({ broker: this.broker, apiKey: h.apiKey, listener: this.listener });
    if (d.action !== "forward" && !readable && this.listener !== "harness") {
      // A component cannot dodge the fault with a version the proxy does not encode: its
      // connection is cut instead, counted as the fault's effect.
      const kind = d.action === "error" ? "errors" : d.action === "delay" ? "delayed" : "dropped";
      bump(this.counts[kind], `${api}/CONNECTION_CUT`);
      throw new RefusedRequest(
        `${api} v${h.apiVersion} on the ${this.listener}'s listener is above the proxy's caps ` +
          `under a ${d.action} mode; connection cut`,
      );
    } else if (d.action !== "forward" && !readable) {
      bump(this.counts.untouched, api);
    } else if (d.action === "error") {
      if (h.apiKey === API_KEYS.Metadata) {
        slot.rewrite = d.code;
      } else {
        const answer = errorAnswer(f, d.code);
        if (answer) {
          slot.upstream = false;
          slot.answer = answer;
          bump(this.counts.errors, `${api}/${d.name}`);
        } else {
          bump(this.counts.untouched, api);
        }
      }
    } else if (d.action === "delay") {
      slot.notBefore = Date.now() + d.delayMs;
      bump(this.counts.delayed, api);
    } else if (d.action === "drop_answer") {
      slot.drop = true;
    }
    this.#slots.push(slot);
    return slot.upstream;
  }

  /** Broker → client: each answer matched to its request, then sent in order. */
  async #answers(): Promise<void> {
    const frames = new FrameBuffer();
    const buf = new Uint8Array(256 * 1024);
    for (;;) {
      const n = await this.upstream.read(buf);
      if (n === null) return;
      for (const f of frames.push(buf.subarray(0, n))) this.#answer(f);
      this.#flush();
      await this.#writing;
    }
  }

  #answer(f: Uint8Array): void {
    const id = responseCorrelationId(f);
    const slot = this.#slots.find((s) => s.upstream && !s.answer && s.correlationId === id);
    if (!slot) throw new Error(`an answer to correlation id ${id} that no request waits for`);
    slot.answer = f;
    const api = apiName(slot.apiKey);
    if (slot.apiKey === API_KEYS.ApiVersions) {
      if (Object.keys(capApiVersions(f, slot.apiVersion)).length) this.counts.capped++;
    }
    if (slot.rewrite !== undefined) {
      const set = rewriteMetadataErrors(f, slot.apiVersion, slot.rewrite);
      if (set > 0) bump(this.counts.errors, `${api}/LEADER_NOT_AVAILABLE`);
    }
    if (slot.route) {
      const portOf = (node: number) => this.proxy.portOf(this.listener, node);
      if (slot.apiKey === API_KEYS.Metadata) rewriteMetadataPorts(f, slot.apiVersion, portOf);
      else rewriteCoordinatorPort(f, slot.apiVersion, portOf);
    }
    if (slot.drop) bump(this.counts.dropped, api);
  }

  /** Sends the answers that are due, in order; comes back for one held back. */
  #flush(): void {
    if (this.#closed) return;
    const out: Uint8Array[] = [];
    const now = Date.now();
    while (this.#slots.length) {
      const head = this.#slots[0];
      if (!head.answer) break;
      if (head.notBefore !== undefined && head.notBefore > now) {
        if (this.#timer === undefined) {
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#flush();
          }, head.notBefore - now);
        }
        break;
      }
      this.#slots.shift();
      if (!head.drop) out.push(head.answer);
    }
    if (!out.length) return;
    const bytes = framed(out);
    this.#writing = this.#writing.then(() => writeAll(this.client, bytes)).catch(() => {
      this.#closed = true;
      try {
        this.client.close();
      } catch { /* already closed */ }
    });
  }
}

/** Frames, each with its size in front, in one buffer (one write). */
function framed(frames: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const f of frames) size += 4 + f.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const f of frames) {
    view.setInt32(at, f.length);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Whether an accept failed because its listener was closed (not for want of descriptors). */
export function listenerClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted;
}
