/**
 * The webhook receiver the harness runs: records every delivery (body,
 * headers, time, whether the signature checked out) in memory and as JSONL,
 * refuses (401) a delivery whose signature does not verify when a secret is set,
 * and can be told to fail for chaos: answer a status (503) or answer slowly
 * until a given time (the `webhook_fail` fault).
 *
 * It also misbehaves without a fault, as docs/contract.md promises ("sometimes
 * answers 503 on purpose"): with `misbehave`, a share `error_share` of the
 * deliveries is answered 503 and a share `slow_share` answered 200 after
 * `slow_ms`, spread evenly over the deliveries in the order they arrive (of any
 * n deliveries in a row, n x share rounded one way or the other misbehave), at
 * places drawn from the seed (`OnPurpose`).
 * A 503 is recorded like any answer (`answered: 503`, `on_purpose: "error"`):
 * it is not an accepted alert, and the detector must retry until 2xx.
 *
 * Each delivery keeps its raw body (as received) and its signature header, so
 * that a re-check verifies the signature again from the bytes (the run folder
 * keeps the secret, sealed: validate/seal.ts). The receiver is bounded: a body
 * over `maxBodyBytes` (64 KiB) is refused with 413 without being read whole
 * (kept as a refused delivery without its body), and it keeps at most
 * `maxDeliveries` (100,000) deliveries and `maxKeptBytes` (64 MiB) of bodies and headers as
 * sent (header values are kept to MAX_HEADER_CHARS):
 * beyond, it answers 429, keeps one `refused: "over_cap"` record and counts the
 * rest (`refused()`). The alert check fails a run whose receiver hit its cap.
 *
 * Its connections are bounded too (connection_gate.ts): at most `maxConnections` (512) open at
 * once, one more answered 503 and closed at once, counted (`refused().connections`) and kept as
 * one `refused: "too_many_connections"` record (the alert check fails it: a pipeline that holds
 * that many open could exhaust the harness's descriptors); a connection that sends nothing for
 * `idleMs` (30 s) while no answer is owed to it is closed.
 *
 * ```ts
 * import { WebhookReceiver } from "./webhook_receiver.ts";
 * const rx = new WebhookReceiver({ port: 29040, secret: Deno.env.get("WEBHOOK_SECRET") });
 * rx.failUntil(Date.now() + 20_000, { status: 503 });
 * new WebhookReceiver({ misbehave: { seed: 7, error_share: 0.2, slow_share: 0.1, slow_ms: 1500 } });
 * rx.deliveries(); // [{ received_at_ms, body, headers, signature_ok, answered }]
 * await rx.stop();
 * ```
 * @module
 */

import { SIGNATURE_HEADER, verify } from "./alert.ts";
import { Rng } from "./rng.ts";
import { ConnectionGate, GATE_LIMITS } from "./connection_gate.ts";

export interface Delivery {
  received_at_ms: number;
  /** The body parsed as JSON, or its text when it is not JSON (null: refused unread). */
  body: unknown;
  /** The body as received (text), null when it was refused unread. */
  raw?: string | null;
  /** The `X-Signature-SHA256` header as received. */
  signature?: string | null;
  idempotency_key: string | null;
  signature_ok: boolean | null;
  /** The status the receiver answered. */
  answered: number;
  /** Set when the receiver misbehaved on purpose without a fault: a 503, or a slow 200. */
  on_purpose?: "error" | "slow";
  /**
   * Set when the receiver refused the delivery unread: a body over its size cap (413), one
   * delivery past the number or bytes it keeps (429; `not_kept` counts those, itself included),
   * or the connections closed at once over its cap on open connections (503; `not_kept` counts
   * them).
   */
  refused?: "too_large" | "over_cap" | "too_many_connections";
  not_kept?: number;
}

/**
 * What the receiver refused: bodies over the size cap, deliveries over the kept cap, connections
 * over the cap on open connections.
 */
export interface Refusals {
  too_large: number;
  over_cap: number;
  connections: number;
}

/** The receiver's bounds (ReceiverOptions), by default. */
export const RECEIVER_LIMITS = {
  maxBodyBytes: 64 * 1024,
  maxDeliveries: 100_000,
  maxKeptBytes: 64 * 1024 * 1024,
  maxConnections: GATE_LIMITS.maxConnections,
  idleMs: GATE_LIMITS.idleMs,
} as const;

/**
 * The longest header value kept (`Idempotency-Key`, the signature): a longer one is kept as its
 * first characters and a digest of the whole (distinct values stay distinct), so that a sender
 * cannot fill the log with headers; what it sent still counts in full against `maxKeptBytes`.
 */
export const MAX_HEADER_CHARS = 256;

/** `value`, or when longer than MAX_HEADER_CHARS its start and the SHA-256 of the whole. */
export async function keptHeader(value: string | null): Promise<string | null> {
  if (value === null || value.length <= MAX_HEADER_CHARS) return value;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  const tail = `…(${value.length} chars, sha256 ${hex})`;
  return value.slice(0, MAX_HEADER_CHARS - tail.length) + tail;
}

/** The bytes of the headers a delivery is kept with, as sent (they count against the cap). */
function headerBytes(request: Request): number {
  return (request.headers.get("idempotency-key")?.length ?? 0) +
    (request.headers.get(SIGNATURE_HEADER)?.length ?? 0);
}

/** A delivery as a line of deliveries.jsonl: the raw body, not the parsed one. */
export function deliveryLine(d: Delivery): string {
  const { body: _, ...kept } = d;
  return JSON.stringify(kept);
}

/** Misbehaviour for the whole run (a scenario's `webhook` key), seeded. */
export interface Misbehaviour {
  seed: number | string;
  /** Share of deliveries answered 503 (default 0). */
  error_share?: number;
  /** Share of deliveries answered 200 after `slow_ms` (default 0). */
  slow_share?: number;
  /** Delay of a slow answer in ms (default 1500). */
  slow_ms?: number;
}

export interface ReceiverOptions {
  /** 0 picks a free port. */
  port?: number;
  secret?: string;
  /** Append deliveries here as JSON lines. */
  logFile?: string;
  /** Answer a seeded share of deliveries 503 or slowly, all the time (default: never). */
  misbehave?: Misbehaviour;
  /** A body over this many bytes is refused (413) unread. Default 64 KiB. */
  maxBodyBytes?: number;
  /** Deliveries kept at most (more: 429, counted). Default 100,000. */
  maxDeliveries?: number;
  /** Bytes of bodies kept at most (more: 429, counted). Default 64 MiB. */
  maxKeptBytes?: number;
  /** Connections open at once at most (more: 503 and closed at once, counted). Default 512. */
  maxConnections?: number;
  /** A connection that sends nothing this long, no answer owed, is closed. Default 30 s. */
  idleMs?: number;
}

export class WebhookReceiver {
  readonly #server: Deno.HttpServer;
  readonly #gate: ConnectionGate;
  #tooMany?: Delivery;
  readonly #deliveries: Delivery[] = [];
  readonly #secret?: string;
  readonly #logFile?: string;
  #failure: { until: number; status: number; delayMs: number } | undefined;
  readonly #misbehave?: { answers: OnPurpose; slowMs: number };
  readonly #limits: { maxBodyBytes: number; maxDeliveries: number; maxKeptBytes: number };
  readonly #refused: Refusals = { too_large: 0, over_cap: 0, connections: 0 };
  #keptBytes = 0;
  #overCap?: Delivery;
  readonly port: number;

  constructor(options: ReceiverOptions = {}) {
    this.#secret = options.secret;
    this.#logFile = options.logFile;
    this.#limits = {
      maxBodyBytes: options.maxBodyBytes ?? RECEIVER_LIMITS.maxBodyBytes,
      maxDeliveries: options.maxDeliveries ?? RECEIVER_LIMITS.maxDeliveries,
      maxKeptBytes: options.maxKeptBytes ?? RECEIVER_LIMITS.maxKeptBytes,
    };
    const m = options.misbehave;
    if (m && ((m.error_share ?? 0) > 0 || (m.slow_share ?? 0) > 0)) {
      this.#misbehave = { answers: new OnPurpose(m), slowMs: m.slow_ms ?? 1500 };
    }
    // The server listens behind the gate, on a unix socket only the harness reaches.
    this.#gate = new ConnectionGate({
      port: options.port ?? 0,
      maxConnections: options.maxConnections ?? RECEIVER_LIMITS.maxConnections,
      idleMs: options.idleMs ?? RECEIVER_LIMITS.idleMs,
      owedMs: () => this.#longestDelay(),
      onRefuse: (n) => this.#tooManyConnections(n),
    });
    try {
      this.#server = Deno.serve(
        { path: this.#gate.socketPath, onListen: () => {} },
        (request) => this.#handle(request),
      );
    } catch (error) {
      this.#gate.close();
      throw error;
    }
    this.#gate.start();
    this.port = this.#gate.port;
  }

  /** The longest an answer may be delayed on purpose now (a fault's, or a slow share's), ms. */
  #longestDelay(): number {
    const failing = this.#failure && Date.now() < this.#failure.until ? this.#failure.delayMs : 0;
    return Math.max(failing, this.#misbehave?.slowMs ?? 0);
  }

  /**
   * Counts a connection closed over the cap; the first is kept as the cap's record (and logged),
   * so that the alert check sees the pipeline held more connections open than it may.
   */
  #tooManyConnections(n: number): void {
    this.#refused.connections = n;
    if (this.#tooMany) {
      this.#tooMany.not_kept = n;
      return;
    }
    this.#tooMany = {
      received_at_ms: Date.now(),
      body: null,
      raw: null,
      signature: null,
      idempotency_key: null,
      signature_ok: null,
      answered: 503,
      refused: "too_many_connections",
      not_kept: n,
    };
    this.#deliveries.push(this.#tooMany);
    if (this.#logFile) this.#append(this.#tooMany).catch(() => {});
  }

  /** The cap on open connections, and the most that were open at once. */
  connections(): { max: number; peak: number; open: number } {
    return { max: this.#gate.maxConnections, peak: this.#gate.peak, open: this.#gate.open };
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/alerts`;
  }

  /** Until `untilMs` (epoch), answer `status` (default 503) after `delayMs` (default 0). */
  failUntil(untilMs: number, options: { status?: number; delayMs?: number } = {}): void {
    this.#failure = {
      until: untilMs,
      status: options.status ?? 503,
      delayMs: options.delayMs ?? 0,
    };
  }

  /** The secret signatures are checked with (the run folder keeps it sealed), if any. */
  get secret(): string | undefined {
    return this.#secret;
  }

  deliveries(): Delivery[] {
    return [...this.#deliveries];
  }

  /** How many deliveries it refused unread, by why. */
  refused(): Refusals {
    return { ...this.#refused };
  }

  async stop(): Promise<void> {
    await this.#gate.close();
    await this.#server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    if (request.method !== "POST") return new Response("POST alerts here\n", { status: 405 });
    const receivedKey = await keptHeader(request.headers.get("idempotency-key"));
    const signature = await keptHeader(request.headers.get(SIGNATURE_HEADER));
    const headers = headerBytes(request);
    if (this.#full(headers)) return await this.#refuseOverCap(request, receivedKey);
    const raw = await readBounded(request, this.#limits.maxBodyBytes);
    if (raw === null) {
      this.#refused.too_large++;
      await this.#keep({
        received_at_ms: Date.now(),
        body: null,
        raw: null,
        signature,
        idempotency_key: receivedKey,
        signature_ok: null,
        answered: 413,
        refused: "too_large",
      }, headers);
      return new Response(`a body is at most ${this.#limits.maxBodyBytes} bytes\n`, {
        status: 413,
      });
    }
    if (this.#full(raw.length + headers)) return await this.#refuseOverCap(request, receivedKey);
    const signatureOk = this.#secret
      ? verify(raw, this.#secret, request.headers.get(SIGNATURE_HEADER))
      : null;
    // One step per delivery, in arrival order, whatever else happens to it: the same run's
    // deliveries meet the same answers.
    const onPurpose = this.#misbehave?.answers.next();
    const failing = this.#failure && Date.now() < this.#failure.until ? this.#failure : undefined;
    const delayMs = failing ? failing.delayMs : onPurpose === "slow" ? this.#misbehave!.slowMs : 0;
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    // A delivery whose signature does not verify is refused, as a real endpoint would; a fault
    // going on decides the answer over the run's own misbehaviour.
    const answered = signatureOk === false
      ? 401
      : failing
      ? failing.status
      : onPurpose === "error"
      ? 503
      : 200;
    let body: unknown = raw;
    try {
      body = JSON.parse(raw);
    } catch { /* keep the raw text */ }
    const delivery: Delivery = {
      received_at_ms: Date.now(),
      body,
      raw,
      signature,
      idempotency_key: receivedKey,
      signature_ok: signatureOk,
      answered,
    };
    if (onPurpose && !failing && signatureOk !== false) delivery.on_purpose = onPurpose;
    await this.#keep(delivery, raw.length + headers);
    const text = answered === 200
      ? "ok\n"
      : answered === 401
      ? "signature does not verify\n"
      : "failing on purpose\n";
    return new Response(text, { status: answered });
  }

  /** Whether one more delivery of `bytes` would go past what the receiver keeps. */
  #full(bytes: number): boolean {
    return this.#overCap !== undefined ||
      this.#deliveries.length >= this.#limits.maxDeliveries ||
      this.#keptBytes + bytes > this.#limits.maxKeptBytes;
  }

  /** Refuses a delivery past the cap, unread: 429, counted. */
  async #refuseOverCap(request: Request, key: string | null): Promise<Response> {
    await request.body?.cancel().catch(() => {});
    await this.#notKept(key, 429);
    return new Response(
      `the receiver keeps at most ${this.#limits.maxDeliveries} deliveries: not kept\n`,
      { status: 429 },
    );
  }

  /**
   * Counts a delivery past the cap; the first is kept as the cap's record (past the cap by one),
   * so that the check sees the cap was hit.
   */
  async #notKept(key: string | null, answered: number): Promise<void> {
    this.#refused.over_cap++;
    if (this.#overCap) {
      this.#overCap.not_kept = this.#refused.over_cap;
      return;
    }
    this.#overCap = {
      received_at_ms: Date.now(),
      body: null,
      raw: null,
      signature: null,
      idempotency_key: key,
      signature_ok: null,
      answered,
      refused: "over_cap",
      not_kept: 1,
    };
    this.#deliveries.push(this.#overCap);
    if (this.#logFile) await this.#append(this.#overCap);
  }

  /** Keeps `delivery` (of `bytes` body bytes), or counts it when the cap was reached meanwhile. */
  async #keep(delivery: Delivery, bytes = 0): Promise<void> {
    if (this.#full(bytes)) return await this.#notKept(delivery.idempotency_key, 429);
    this.#keptBytes += bytes;
    this.#deliveries.push(delivery);
    if (this.#logFile) await this.#append(delivery);
  }

  async #append(delivery: Delivery): Promise<void> {
    await Deno.writeTextFile(this.#logFile!, deliveryLine(delivery) + "\n", { append: true });
  }
}

/**
 * The body's text, read up to `max` bytes: null when it is longer (a Content-Length over `max`
 * is refused before reading anything).
 */
async function readBounded(request: Request, max: number): Promise<string | null> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await request.body?.cancel().catch(() => {});
    return null;
  }
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Which deliveries misbehave, one after another: an even spread of the shares
 * (Bresenham's: delivery i is an error when floor((i + 1) e + p) passes an
 * integer, the same for slow answers among the others), with phases p drawn
 * from the seed. Pure.
 */
export class OnPurpose {
  readonly #error: number;
  readonly #slow: number;
  readonly #phase: [number, number];
  #i = 0;
  #j = 0;

  constructor(m: Misbehaviour) {
    this.#error = m.error_share ?? 0;
    // The slow share of all deliveries, as a share of those that are not errors.
    this.#slow = this.#error < 1 ? Math.min(1, (m.slow_share ?? 0) / (1 - this.#error)) : 0;
    const rng = new Rng(`${m.seed}/webhook`);
    this.#phase = [rng.next(), rng.next()];
  }

  /** The next delivery's misbehaviour, if any. */
  next(): "error" | "slow" | undefined {
    if (tick(this.#i++, this.#error, this.#phase[0])) return "error";
    return tick(this.#j++, this.#slow, this.#phase[1]) ? "slow" : undefined;
  }
}

/** Whether step `i` of an even spread of `share` with phase `phase` is one of the share's. */
function tick(i: number, share: number, phase: number): boolean {
  return Math.floor((i + 1) * share + phase) > Math.floor(i * share + phase);
}
