/**
 * The webhook receiver the harness runs: records every delivery (body,
 * headers, time, whether the signature checked out) in memory and as JSONL,
 * refuses (401) a delivery whose signature does not verify when a secret is set,
 * and can be told to fail for chaos: answer a status (503) or answer slowly
 * until a given time.
 *
 * ```ts
 * import { WebhookReceiver } from "./webhook_receiver.ts";
 * const rx = new WebhookReceiver({ port: 29040, secret: Deno.env.get("WEBHOOK_SECRET") });
 * rx.failUntil(Date.now() + 20_000, { status: 503 });
 * rx.deliveries(); // [{ received_at_ms, body, headers, signature_ok, answered }]
 * await rx.stop();
 * ```
 * @module
 */

import { SIGNATURE_HEADER, verify } from "./alert.ts";

export interface Delivery {
  received_at_ms: number;
  body: unknown;
  idempotency_key: string | null;
  signature_ok: boolean | null;
  /** The status the receiver answered. */
  answered: number;
}

export interface ReceiverOptions {
  /** 0 picks a free port. */
  port?: number;
  secret?: string;
  /** Append deliveries here as JSON lines. */
  logFile?: string;
}

export class WebhookReceiver {
  readonly #server: Deno.HttpServer;
  readonly #deliveries: Delivery[] = [];
  readonly #secret?: string;
  readonly #logFile?: string;
  #failure: { until: number; status: number; delayMs: number } | undefined;
  readonly port: number;

  constructor(options: ReceiverOptions = {}) {
    this.#secret = options.secret;
    this.#logFile = options.logFile;
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
    const failing = this.#failure && Date.now() < this.#failure.until ? this.#failure : undefined;
    if (failing?.delayMs) await new Promise((r) => setTimeout(r, failing.delayMs));
    // A delivery whose signature does not verify is refused, as a real endpoint would.
    const answered = signatureOk === false ? 401 : failing ? failing.status : 200;
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
