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

export interface Delivery {
  received_at_ms: number;
  body: unknown;
  idempotency_key: string | null;
  signature_ok: boolean | null;
  /** The status the receiver answered. */
  answered: number;
  /** Set when the receiver misbehaved on purpose without a fault: a 503, or a slow 200. */
  on_purpose?: "error" | "slow";
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
}

export class WebhookReceiver {
  readonly #server: Deno.HttpServer;
  readonly #deliveries: Delivery[] = [];
  readonly #secret?: string;
  readonly #logFile?: string;
  #failure: { until: number; status: number; delayMs: number } | undefined;
  readonly #misbehave?: { answers: OnPurpose; slowMs: number };
  readonly port: number;

  constructor(options: ReceiverOptions = {}) {
    this.#secret = options.secret;
    this.#logFile = options.logFile;
    const m = options.misbehave;
    if (m && ((m.error_share ?? 0) > 0 || (m.slow_share ?? 0) > 0)) {
      this.#misbehave = { answers: new OnPurpose(m), slowMs: m.slow_ms ?? 1500 };
    }
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.port = (this.#server.addr as Deno.NetAddr).port;
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

  deliveries(): Delivery[] {
    return [...this.#deliveries];
  }

  async stop(): Promise<void> {
    await this.#server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    if (request.method !== "POST") return new Response("POST alerts here\n", { status: 405 });
    const raw = await request.text();
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
      idempotency_key: request.headers.get("idempotency-key"),
      signature_ok: signatureOk,
      answered,
    };
    if (onPurpose && !failing && signatureOk !== false) delivery.on_purpose = onPurpose;
    this.#deliveries.push(delivery);
    if (this.#logFile) {
      await Deno.writeTextFile(this.#logFile, JSON.stringify(delivery) + "\n", { append: true });
    }
    const text = answered === 200
      ? "ok\n"
      : answered === 401
      ? "signature does not verify\n"
      : "failing on purpose\n";
    return new Response(text, { status: answered });
  }
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
