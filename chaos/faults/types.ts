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
  cores?: number;
  limit_mb?: number;
  free_mb?: number;
}

export type Observed = Record<string, unknown>;

export interface Injected {
  observed: Observed;
  heal(): Promise<Observed>;
}

/** What a target resolved to: node names of the stack or components, or the webhook. */
export type TargetKind = "broker" | "link" | "component" | "service" | "webhook";

/** How a fault reaches an external stack's node (see `Fault.external`). */
export type ExternalMechanism = "container" | "netns" | "proxies" | "harness";

/** The stacks a fault may run on. */
export type StackName = "local" | "docker";
export const BOTH_STACKS: readonly StackName[] = ["local", "docker"];

/**
 * A fault kind: what it is, what it acts on, where, with which params, and how
 * it is injected and healed. The table of faults (mod.ts) is made of these; the
 * scenario schema, the planner, the stack check and `--list` derive from it.
 */
export interface Fault {
  kind: string;
  /** One line for `--list` and the docs. */
  summary: string;
  /** What it can act on. */
  targets: readonly TargetKind[];
  /** The stacks that can inject it. */
  stacks: readonly StackName[];
  /**
   * How it acts on an external stack's nodes (`--stack external`, compose/external_endpoints.ts):
   * through the node's container on its Docker engine, through a helper container in that
   * container's network namespace on the same engine (`netns`), through the Toxiproxy proxies
   * the endpoints file names, or through the harness alone (its components, its webhook receiver).
   * Absent: it cannot run on an external stack.
   */
  external?: ExternalMechanism;
  /** Over as soon as it is done: the planner schedules no heal. */
  oneShot?: boolean;
  /** The params it reads; a scenario giving it another is rejected. */
  params: readonly (keyof FaultParams)[];
  /** The params a scenario must give it and did not (by name); default none. */
  missing?(params: FaultParams): string[];
  /** Why it cannot act on `target` on `stack` beyond `stacks` (the kernel, a link), or undefined. */
  problem?(target: string, stack: StackName, host: { netem?: boolean }): string | undefined;
  inject(ctx: FaultContext, nodes: string[], params: FaultParams): Promise<Injected>;
}

/** `missing` for params that are each required. */
export function requires(...keys: (keyof FaultParams)[]): (params: FaultParams) => string[] {
  return (params) => keys.filter((key) => params[key] === undefined);
}

/** The node handle of a stack node or a component. */
export function nodeOf(ctx: FaultContext, name: string): StackNode {
  return ctx.components.get(name) ?? ctx.stack.node(name);
}
