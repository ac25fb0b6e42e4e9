/**
 * The thread side of a generator worker (`threads: true`, see generator.ts):
 * runs one `GeneratorLoop` and reports its ledger writes, acknowledged sends,
 * requests in flight and random incidents to the generator's thread.
 * @module
 */

import { GeneratorLoop, type LoopHost } from "./generator_loop.ts";
import { useSecurityFor } from "./kafka_security.ts";
import type { LedgerOp, ThreadReply, ThreadRequest } from "./generator_thread.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<ThreadRequest>) => void) | null;
  postMessage(message: ThreadReply): void;
};

let ops: LedgerOp[] = [];
let acks: Array<[number, number]> = [];
let inFlight = 0;
let flushing = false;

/** Sends what piled up in this turn of the event loop as one message. */
function flush(): void {
  flushing = false;
  if (ops.length === 0 && acks.length === 0 && inFlight === 0) return;
  scope.postMessage({ type: "report", ops, acks, inFlight });
  ops = [];
  acks = [];
  inFlight = 0;
}

function later(): void {
  if (!flushing) {
    flushing = true;
    queueMicrotask(flush);
  }
}

const host: LoopHost = {
  ledger: {
    attempt: (_, lo, hi = lo) => void (ops.push(["attempt", lo, hi]), later()),
    ack: (_, lo, hi = lo) => void (ops.push(["ack", lo, hi]), later()),
    fail: (_, lo, hi = lo) => void (ops.push(["fail", lo, hi]), later()),
    unknown: (_, lo, hi = lo) => void (ops.push(["unknown", lo, hi]), later()),
    malformed: (_, seq) => void (ops.push(["malformed", seq, seq]), later()),
  },
  acked: (events, rttMs) => void (acks.push([events, rttMs]), later()),
  inFlight: (delta) => void (inFlight += delta, later()),
  randomIncident: (kind, atMs) => scope.postMessage({ type: "incident", kind, at_ms: atMs }),
};

let loop: GeneratorLoop | undefined;

scope.onmessage = (e) => {
  const request = e.data;
  const failed = (error: unknown) => {
    flush();
    scope.postMessage({ type: "error", message: String((error as Error)?.message ?? error) });
  };
  if (request.type === "start") {
    const { brokers, security } = request.config;
    if (security) useSecurityFor(brokers, security);
    loop = new GeneratorLoop(request.config, host);
    loop.addFlows(request.flows);
    loop.prepare().then(() => scope.postMessage({ type: "ready" }), failed);
  } else if (request.type === "go") {
    loop?.run(request.wallStart).then(() => {
      flush();
      scope.postMessage({ type: "done" });
    }, failed);
  } else if (request.type === "flows") {
    loop?.addFlows(request.flows);
  } else {
    loop?.stop();
  }
};
