/**
 * The interface every fault implements: `inject` acts on a resolved target and
 * returns what it observed plus a `heal` that undoes it (also observed).
 * Faults are data in scenarios (`{at, kind, target, params, heal_after}`); the
 * engine resolves the target and calls the fault from the table in mod.ts.
 * Each fault owns the schema of its params (a strict zod object in its own
 * module, shared pieces in params.ts); `inject` gets what that schema parsed.
 * @module
 */

import type { z } from "zod";
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
  /** The run's topic (its store's batch keys name it); none in a game day. */
  topic?: string;
}

/** A broker's listeners, each behind its own Toxiproxy proxy on the local stack. */
export const LISTENERS = ["client", "internal", "controller"] as const;
export type Listener = typeof LISTENERS[number];

/**
 * The schema of one fault's params: a strict zod object (`z.strictObject({...})`) whose keys
 * are the params it reads, each with its bounds, its default (or required: not optional) and a
 * `.describe()` text; shared pieces are in params.ts.
 */
export type ParamsSchema = z.ZodObject;

/** Some fault's params, before its schema parsed them (or after, seen from outside the fault). */
export type RawParams = Record<string, unknown>;

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
export interface Fault<S extends ParamsSchema = ParamsSchema> {
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
  /**
   * Its params: a strict zod object. A scenario's params are parsed by it (an unknown key, a
   * missing required one, a value out of bounds: rejected with its path); `inject` gets the output.
   */
  params: S;
  /** Why it cannot act on `target` on `stack` beyond `stacks` (the kernel, a link), or undefined. */
  problem?(target: string, stack: StackName, host: { netem?: boolean }): string | undefined;
  inject(ctx: FaultContext, nodes: string[], params: z.output<S>): Promise<Injected>;
}

/**
 * A fault module's declaration, typed by its own params schema (`inject` gets `z.output` of
 * it); the table holds it as a plain `Fault`.
 */
export function defineFault<S extends ParamsSchema>(fault: Fault<S>): Fault<S> {
  return fault;
}

/** The node handle of a stack node or a component. */
export function nodeOf(ctx: FaultContext, name: string): StackNode {
  return ctx.components.get(name) ?? ctx.stack.node(name);
}
