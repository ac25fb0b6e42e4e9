/**
 * The end of every run, whatever happened before (success, failure, an
 * exception, Ctrl-C): observation stopped, every fault still in force healed,
 * the components stopped, the webhook receiver closed, and the stack taken
 * down (or left running with `--keep-stack`). The store and the logs stay in
 * the run folder, so `validate --run` works after the stack is gone.
 * @module
 */

import type { ProcessNode } from "../compose/process_node.ts";
import type { Stack } from "../compose/stack.ts";
import type { Ledger } from "../pipeline/ledger.ts";
import type { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import type { History } from "../validate/history.ts";
import type { Sample } from "../validate/samples.ts";
import type { Judgement } from "./judge.ts";
import type { Observation } from "./observe.ts";
import type { RunStack } from "./run_stack.ts";
import type { RunStatus } from "./status.ts";
import type { FaultTimeline } from "./timeline.ts";

/** What a run has started or gathered so far: each part is there once its phase made it. */
export interface RunParts {
  status: RunStatus;
  history: History;
  /** Why the run is unknown: it failed or was interrupted. */
  reasons: string[];
  stack?: Stack;
  kafka?: RunStack;
  receiver?: WebhookReceiver;
  components?: Map<string, ProcessNode>;
  timeline?: FaultTimeline;
  observation?: Observation;
  ledger?: Ledger;
  samples?: Sample[];
  judgement?: Judgement;
}

export async function teardown(run: RunParts, o: { keepStack?: boolean }): Promise<void> {
  await run.observation?.stop();
  run.status.stop();
  await run.timeline?.healAll();
  for (const c of run.components?.values() ?? []) {
    await c.stop({ graceMs: 10_000 }).catch(() => {});
  }
  await run.receiver?.stop().catch(() => {});
  if (!run.stack) return;
  if (o.keepStack) await run.stack.detach();
  else await run.stack.down({ quiet: true, retain: ["minio", "logs"] }).catch(() => {});
}
