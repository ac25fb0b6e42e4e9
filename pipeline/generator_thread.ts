/**
 * A generator worker in a thread of its own (a Web Worker running
 * `_generator_worker.ts`), seen from the generator's thread: the same
 * `addFlows` / `stop` / `run` as an in-thread `GeneratorLoop`, with the
 * thread's reports replayed on the `LoopHost`. Event making and the Kafka
 * client's encoding then use more than one core.
 *
 * ```ts
 * const t = new GeneratorThread(config, host);
 * await t.prepare(); // the thread runs and its producer is connected
 * t.addFlows(plannedFlows);
 * await t.run(Date.now());
 * ```
 * @module
 */

import type { IncidentKind, PlannedFlow } from "./anomalies.ts";
import { type LoopConfig, type LoopHost, workerProducerId } from "./generator_loop.ts";

/** A ledger write of the thread's producer: outcome, first and last seq. */
export type LedgerOp = ["attempt" | "ack" | "fail" | "unknown" | "malformed", number, number];

export type ThreadRequest =
  | { type: "start"; config: LoopConfig; flows: PlannedFlow[] }
  | { type: "go"; wallStart: number }
  | { type: "flows"; flows: PlannedFlow[] }
  | { type: "stop" };

export type ThreadReply =
  /** `acks`: [events, round trip ms] per acknowledged send; `inFlight`: the change. */
  | { type: "report"; ops: LedgerOp[]; acks: Array<[number, number]>; inFlight: number }
  | { type: "incident"; kind: IncidentKind; at_ms: number }
  | { type: "ready" }
  | { type: "done" }
  | { type: "error"; message: string };

export class GeneratorThread {
  readonly config: LoopConfig;
  readonly producerId: string;
  readonly #host: LoopHost;
  readonly #flows: PlannedFlow[] = [];
  #worker: Worker | undefined;
  #stopped = false;
  #ready = Promise.withResolvers<void>();
  #done = Promise.withResolvers<void>();

  constructor(config: LoopConfig, host: LoopHost) {
    this.config = config;
    this.producerId = workerProducerId(config);
    this.#host = host;
    // Whoever does not wait for one of them must not see it as unhandled.
    this.#ready.promise.catch(() => {});
    this.#done.promise.catch(() => {});
  }

  addFlows(flows: PlannedFlow[]): void {
    if (this.#worker) this.#worker.postMessage({ type: "flows", flows } satisfies ThreadRequest);
    else this.#flows.push(...flows);
  }

  stop(): void {
    this.#stopped = true;
    this.#worker?.postMessage({ type: "stop" } satisfies ThreadRequest);
  }

  /** Starts the thread; resolves when its producer is connected, rejects with its error. */
  prepare(): Promise<void> {
    const worker = new Worker(new URL("./_generator_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker = worker;
    const end = (error?: Error) => {
      worker.terminate();
      if (this.#worker === worker) this.#worker = undefined;
      if (error) {
        this.#ready.reject(error);
        this.#done.reject(error);
      } else {
        this.#done.resolve();
      }
    };
    const host = this.#host;
    const id = this.producerId;
    worker.onmessage = (e: MessageEvent<ThreadReply>) => {
      const m = e.data;
      if (m.type === "report") {
        for (const [op, lo, hi] of m.ops) {
          if (op === "malformed") host.ledger.malformed(id, lo);
          else host.ledger[op](id, lo, hi);
        }
        for (const [events, rtt] of m.acks) host.acked(events, rtt);
        if (m.inFlight) host.inFlight(m.inFlight);
      } else if (m.type === "incident") {
        host.randomIncident(m.kind, m.at_ms);
      } else if (m.type === "ready") {
        this.#ready.resolve();
      } else if (m.type === "done") {
        end();
      } else {
        end(new Error(m.message));
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      end(new Error(`generator thread ${this.config.index} failed: ${e.message}`));
    };
    worker.postMessage(
      { type: "start", config: this.config, flows: this.#flows.splice(0) } satisfies ThreadRequest,
    );
    return this.#ready.promise;
  }

  /**
   * Produces from `wallStart`; resolves when the thread's loop ended (the thread is gone then),
   * rejects with its error. Nothing to do when `prepare` did not succeed.
   */
  run(wallStart: number): Promise<void> {
    const worker = this.#worker;
    if (!worker) return Promise.resolve();
    worker.postMessage({ type: "go", wallStart } satisfies ThreadRequest);
    if (this.#stopped) worker.postMessage({ type: "stop" } satisfies ThreadRequest);
    return this.#done.promise;
  }
}
