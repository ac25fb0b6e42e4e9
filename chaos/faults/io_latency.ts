/**
 * The `io_latency` fault: a slow disk. Every operation of the chosen kinds
 * (`ops`: read, write, fsync, meta or all; compose/lazyfs.ts says which
 * system calls each covers) on the target's data (a broker's log dir, MinIO's
 * data) waits `latency_ms` (± `jitter_ms`) before it runs. It acts in the
 * lazyfs layer under the node's data (compose/lazy_disks.ts: a run whose
 * scenario uses it puts every broker and MinIO on a lazy disk: on the local
 * stack, or on the docker stack's host, bind-mounted into the containers; a
 * remote Docker engine is refused). Its effect is the layer's count of delayed operations: the
 * fault waits (10 s) until every target had one, else it is cleared and
 * reported as without effect (the run is then `unknown`). The heal clears it
 * and records how many operations were delayed while it lasted.
 *
 * The helpers the IO faults share (the targets' mounts, waiting for the
 * layer's counts) live here too; io_error.ts uses them.
 * @module
 */

import { z } from "zod";
import {
  countsSince,
  IO_KINDS,
  type IoCounts,
  type IoFaults,
  type IoKey,
  type IoKind,
  type LazyMount,
  totalOf,
} from "../../compose/lazyfs.ts";
import { sleep } from "../../lib/wait.ts";
import { dataTargetProblem, lazyMounts, lazyStackFaultProblem } from "./data_disks.ts";
import { millis } from "./params.ts";
import { defineFault } from "./types.ts";

/** How long a fault waits for the layer to count its first operation on every target. */
export const OBSERVE_WAIT_MS = 10_000;

/** The kinds of operations a fault may name (`all`: every kind). */
export const ioOps = z.array(z.enum([...IO_KINDS, "all"])).min(1);

/** The kinds `ops` names, `all` spelled out. */
export function kindsOf(ops: readonly IoKey[]): IoKind[] {
  return ops.includes("all") ? [...IO_KINDS] : IO_KINDS.filter((k) => ops.includes(k));
}

/** `value` for each kind `ops` names (as the layer takes it). */
export function byKinds(ops: readonly IoKey[], value: number): Partial<Record<IoKey, number>> {
  return Object.fromEntries(kindsOf(ops).map((k) => [k, value]));
}

/** What each layer counted so far, of `which` (delayed or failed operations). */
export async function countsOf(
  mounts: ReadonlyMap<string, LazyMount>,
  which: "delayed" | "failed",
): Promise<Map<string, IoCounts>> {
  const counts = new Map<string, IoCounts>();
  for (const [name, mount] of mounts) counts.set(name, (await mount.status())[which]);
  return counts;
}

/**
 * The operations of `kinds` counted on each target since `before`, once every target has one or
 * `waitMs` ran out (a target with 0 then: the fault had no effect there).
 */
export async function waitForCounts(
  mounts: ReadonlyMap<string, LazyMount>,
  which: "delayed" | "failed",
  before: ReadonlyMap<string, IoCounts>,
  kinds: readonly IoKind[],
  waitMs = OBSERVE_WAIT_MS,
): Promise<Record<string, number>> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const now = await countsOf(mounts, which);
    const since: Record<string, number> = {};
    for (const [name, counts] of now) {
      since[name] = totalOf(countsSince(before.get(name)!, counts), kinds);
    }
    if (Object.values(since).every((n) => n > 0) || performance.now() >= deadline) return since;
    await sleep(200);
  }
}

/** Clears the faults of every mount still up; the first error after trying all. */
export async function clearAll(mounts: ReadonlyMap<string, LazyMount>): Promise<void> {
  const errors: unknown[] = [];
  for (const mount of mounts.values()) {
    if (mount.mounted) await mount.clearIoFaults().catch((e) => errors.push(e));
  }
  if (errors.length > 0) throw errors[0];
}

/** The operations of `kinds` counted on each target since `before` (for a heal's record). */
export async function countedSince(
  mounts: ReadonlyMap<string, LazyMount>,
  which: "delayed" | "failed",
  before: ReadonlyMap<string, IoCounts>,
  kinds: readonly IoKind[] = IO_KINDS,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, counts] of await countsOf(mounts, which)) {
    out[name] = totalOf(countsSince(before.get(name)!, counts), kinds);
  }
  return out;
}

/** The targets with no counted operation, as the error of a fault without effect. */
export function noEffect(
  kind: string,
  counted: Record<string, number>,
  what: string,
): Error | undefined {
  const none = Object.keys(counted).filter((n) => counted[n] === 0);
  if (none.length === 0) return undefined;
  return new Error(
    `${kind} had no effect: no ${what} on ${none.join(", ")} within ${
      OBSERVE_WAIT_MS / 1000
    } s (nothing touched those operations of its data)`,
  );
}

export const ioLatency = defineFault({
  kind: "io_latency",
  summary:
    "a slow disk: each operation of `ops` on the target's data (brokers, minio; a lazy disk) waits `latency_ms` ± `jitter_ms`; observed by the layer's count of delayed operations; healed by clearing it",
  targets: ["broker", "service"],
  stacks: ["local", "docker"],
  params: z.strictObject({
    latency_ms: millis(60_000).refine((ms) => ms > 0, "must be more than 0").describe(
      "the delay added before each operation, in ms",
    ),
    jitter_ms: millis(60_000).default(0).describe(
      "each delay drawn uniformly in latency_ms ± jitter_ms (at least 0)",
    ),
    ops: ioOps.default(["all"]).describe(
      "the kinds of operations delayed: read, write (and truncate), fsync, meta (open, lookup, " +
        "create, rename...) or all",
    ),
  }).refine((p) => p.latency_ms + p.jitter_ms <= 60_000, {
    message: "latency_ms + jitter_ms must be at most 60000",
    path: ["jitter_ms"],
  }),
  problem: (target, stack) =>
    dataTargetProblem("io_latency", target) ?? lazyStackFaultProblem("io_latency", stack),
  async inject(ctx, nodes, params) {
    const mounts = lazyMounts(ctx, nodes, "io_latency");
    const kinds = kindsOf(params.ops);
    const faults: IoFaults = {
      delayMs: byKinds(params.ops, params.latency_ms),
      ...(params.jitter_ms > 0 ? { jitterMs: params.jitter_ms } : {}),
    };
    const before = await countsOf(mounts, "delayed");
    try {
      for (const mount of mounts.values()) await mount.setIoFaults(faults);
      const delayed = await waitForCounts(mounts, "delayed", before, kinds);
      const none = noEffect("io_latency", delayed, `${kinds.join("/")} operation was delayed`);
      if (none) throw none;
      return {
        observed: { delayed, latency_ms: params.latency_ms, jitter_ms: params.jitter_ms, kinds },
        async heal() {
          await clearAll(mounts);
          return { cleared: nodes, delayed: await countedSince(mounts, "delayed", before, kinds) };
        },
      };
    } catch (error) {
      await clearAll(mounts).catch(() => {});
      throw error;
    }
  },
});
