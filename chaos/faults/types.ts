/**
 * The interface every fault implements: `inject` acts on a resolved target and
 * returns what it observed plus a `heal` that undoes it (also observed).
 * Faults are data in scenarios (`{at, kind, target, params, heal_after}`); the
 * engine resolves the target and calls the fault from the table in mod.ts.
 * @module
 */

import type { Binaries } from "../../compose/provision.ts";
import type { Stack, StackNode } from "../../compose/stack.ts";
import type { WebhookReceiver } from "../../pipeline/webhook_receiver.ts";

export interface FaultContext {
  stack: Stack;
  /** The provisioned binaries (Java and the Kafka classpath, for Kafka's own tools). */
  binaries: Binaries;
  /** Pipeline components by name: "sink", "detector". */
  components: ReadonlyMap<string, StackNode>;
  receiver: WebhookReceiver;
}

/** A broker's listeners, each behind its own Toxiproxy proxy on the local stack. */
export const LISTENERS = ["client", "internal", "controller"] as const;
export type Listener = typeof LISTENERS[number];

export interface FaultParams {
  latency_ms?: number;
  jitter_ms?: number;
  rate_kbps?: number;
  timeout_ms?: number;
  toxicity?: number;
  listeners?: Listener[];
  status?: number;
  delay_ms?: number;
  loss_pct?: number;
}

export type Observed = Record<string, unknown>;

export interface Injected {
  observed: Observed;
  heal(): Promise<Observed>;
}

/** What a target resolved to: node names of the stack or components, or the webhook. */
export type TargetKind = "broker" | "link" | "component" | "service" | "webhook";

export interface Fault {
  kind: string;
  /** What it can act on. */
  targets: readonly TargetKind[];
  inject(ctx: FaultContext, nodes: string[], params: FaultParams): Promise<Injected>;
}

/** The node handle of a stack node or a component. */
export function nodeOf(ctx: FaultContext, name: string): StackNode {
  return ctx.components.get(name) ?? ctx.stack.node(name);
}
