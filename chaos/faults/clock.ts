/**
 * The `clock` fault: the target's wall clock jumps `offset_s` seconds ahead
 * (negative: back) and/or runs at `rate` (a drift: 1.01 is 1 % fast) from the
 * injection on; healed: the real clock again, at once. It acts through
 * libfaketime (compose/faketime.ts): a run whose scenario has a clock fault
 * starts its targets under the preload from the beginning (`clockNodes()`,
 * read by chaos/run_stack.ts for the brokers and chaos/components.ts for the
 * sink and the detector), on the real clock until the fault rewrites their
 * clock file; nothing else of the run is preloaded.
 *
 * Where: the sink and the detector (host processes on both stacks), a broker
 * of the local stack. Refused with the reason: a broker of the docker stack
 * (the library would have to be in the broker image), Redis (Debian's
 * redis-server is linked with jemalloc, which fails at start under the
 * preload: libfaketime#130), MinIO and Toxiproxy (Go programs read the clock
 * through the vDSO, past libc).
 *
 * A graded component's process that runs without the preload while its box's
 * init runs under it (it re-exec'ed itself without `LD_PRELOAD`, or runs a
 * program the preload does not reach) dodged the fault: not observed, and the
 * submission's failure (`DodgedFaultError`, faults/dodged.ts; the evidence is
 * each such process's pid, uid and name). Any other process without the
 * preload is the harness's failure: not observed, the run unknown.
 *
 * Observed only when the target's clock was seen moved: every process of the
 * target runs with libfaketime loaded on this run's file (/proc), a probe
 * started with the same preload and file sees the written offset, and where
 * the target serves HTTP (the components' metrics port) the `Date` header it
 * sends moves by the offset too (a jump forward: after one back, Deno's server
 * keeps its cached header until its clock catches up). The heal records the clock the target had
 * just before (the offset plus the drift accumulated) and the probe's real
 * clock after.
 * @module
 */

import { z } from "zod";
import {
  driftOffset,
  faketimeEnv,
  faketimeFile,
  formatFaketime,
  httpDateOffsetS,
  preloadDrops,
  preloadSeen,
  probeOffsetS,
  processLives,
  processUptimeS,
  REAL_CLOCK,
  underFaketime,
  writeFaketime,
} from "../../compose/faketime.ts";
import { ensureFaketime } from "../../compose/host_tools.ts";
import { ProcessNode } from "../../compose/process_node.ts";
import { brokerNode } from "../../compose/stack.ts";
import { sleep } from "../../lib/wait.ts";
import { DodgedFaultError } from "./dodged.ts";
import { BOTH_STACKS, defineFault, type FaultContext, nodeOf, type StackName } from "./types.ts";

/**
 * How long a target may take to read its clock file again: libfaketime re-reads it once more
 * than `FAKETIME_CACHE_DURATION` (1 s) whole seconds have passed, so up to 2 s; with margin.
 */
const SETTLE_MS = 2_500;

/** How often the target's clock is read again (every 0.5 s) before the fault counts as failed. */
const RETRIES = 16;

/** A year, in seconds: the largest jump. */
const YEAR_S = 365 * 86_400;

export const clockParams = z.strictObject({
  offset_s: z.number().int().min(-YEAR_S).max(YEAR_S).default(0).describe(
    "seconds the clock jumps ahead (negative: back)",
  ),
  rate: z.number().min(0.1).max(10).default(1).describe(
    "how fast the clock runs from the injection on (1: real; 1.01: 1 % fast)",
  ),
}).refine((p) => p.offset_s !== 0 || p.rate !== 1, {
  message: "a clock fault needs offset_s (not 0) or rate (not 1): it would change nothing",
});

/** How long a process found without the preload has to have been starting or ending. */
const MISSED_RECHECK_MS = 200;

/** Why `target` cannot have its clock moved on `stack`, or undefined. */
export function clockProblem(target: string, stack: StackName): string | undefined {
  if (target === "redis") {
    return "clock cannot act on redis: Debian's redis-server is linked with jemalloc, which " +
      "fails at start under libfaketime (libfaketime#130)";
  }
  if (target === "minio" || target === "toxiproxy") {
    return `clock cannot act on ${target}: a Go program reads the clock through the vDSO, ` +
      "which libfaketime does not reach";
  }
  if (stack === "docker" && (target.startsWith("broker:") || target === "all-brokers")) {
    return "clock on a broker needs --stack local: on the docker stack libfaketime would have " +
      "to be in the broker image, and it is not";
  }
  return undefined;
}

/**
 * The nodes a run must start under libfaketime for these faults: the components and brokers a
 * clock fault may hit (a broker chosen when the fault fires: every broker of `brokerIds`).
 */
export function clockNodes(
  faults: readonly { kind: string; target: string }[],
  brokerIds: readonly number[],
): string[] {
  const nodes = new Set<string>();
  for (const f of faults.filter((f) => f.kind === "clock")) {
    const id = f.target.match(/^broker:(\d+)$/)?.[1];
    if (id !== undefined) nodes.add(brokerNode(Number(id)));
    else if (f.target.startsWith("broker:") || f.target === "all-brokers") {
      for (const b of brokerIds) nodes.add(brokerNode(b));
    } else nodes.add(f.target);
  }
  return [...nodes].sort();
}

/** A target as the fault acts on it: its clock file, its processes, its HTTP port. */
interface Clocked {
  name: string;
  file: string;
  pids: number[];
  /** Its main process (the drift's reference), when known. */
  pid?: number;
  /** The components' metrics endpoint, whose `Date` header is the target's own clock. */
  http?: string;
}

async function clocked(ctx: FaultContext, name: string): Promise<Clocked> {
  const node = nodeOf(ctx, name);
  // The file the node was started with (a boxed component's is the box's, compose/sandbox.ts).
  const started = node instanceof ProcessNode ? node.spec.env?.FAKETIME_TIMESTAMP_FILE : undefined;
  const file = started ?? faketimeFile(ctx.stack.dataDir, node.name);
  const pid = node.pid();
  const members = node instanceof ProcessNode ? node.members() : undefined;
  const pids = members ?? (pid === undefined ? [] : [pid]);
  if (pids.length === 0) throw new Error(`cannot move the clock of ${name}: it is not running`);
  const lib = node instanceof ProcessNode ? node.spec.env?.LD_PRELOAD : undefined;
  let missed = pids.filter((p) => !underFaketime(p, file, lib) && processLives(p));
  if (missed.length > 0) {
    // A process that was starting (before its exec took the preload) or ending: read again, and
    // only what is still there and still without it counts.
    await sleep(MISSED_RECHECK_MS);
    missed = missed.filter((p) => !underFaketime(p, file, lib) && processLives(p));
  }
  if (missed.length > 0 && lib !== undefined && ctx.components.has(name)) {
    // A boxed component's process that left the preload its box still has: its own doing.
    const seen = pids.map((p) => preloadSeen(p, lib, file));
    const drops = preloadDrops(seen, missed, Deno.uid() ?? -1);
    if (drops.length > 0) {
      const what = drops.slice(0, 5).map((d) =>
        `pid ${d.pid} (uid ${d.uid}${d.comm ? `, ${JSON.stringify(d.comm)}` : ""}) ${
          d.how === "environ"
            ? "removed libfaketime's LD_PRELOAD from its environment"
            : "runs a program the preload does not reach (its environment still names it)"
        }`
      ).join("; ");
      throw new DodgedFaultError(
        name,
        `${what}, while its box's other processes run under it (the harness started the ` +
          `${name} with ${lib} on ${file})`,
        { preload_dropped: drops.slice(0, 20), members: pids.length },
      );
    }
  }
  if (missed.length > 0) {
    throw new Error(
      `cannot move the clock of ${name}: pid ${missed.join(", ")} does not run under libfaketime ` +
        `on ${file} (a node is preloaded only when its run's scenario has a clock fault on it)`,
    );
  }
  const port = ctx.components.has(name) && node instanceof ProcessNode
    ? node.spec.env?.METRICS_PORT
    : undefined;
  return { name, file, pids, pid, http: port ? `http://127.0.0.1:${port}/metrics` : undefined };
}

/**
 * The env of a probe of `file`: the harness's own preload and settings, the same the target was
 * started with (faketime.ts `faketimeEnv`). Never read from the target: the probe runs as the
 * harness, and a boxed component controls its own environ (an `LD_PRELOAD` of its choosing
 * would run its code as root).
 */
async function probeEnv(c: Clocked): Promise<Record<string, string>> {
  return { PATH: "/usr/bin:/bin", ...faketimeEnv(await ensureFaketime(), c.file) };
}

/**
 * What a target's clock reads now (seconds ahead): the probe's, and with `http` its own `Date`
 * header. Only after the clock moved forward: Deno's server (hyper) renews its cached `Date`
 * when its clock passes the next second it expected, so after a jump back it keeps sending the
 * old date until its clock catches up (seen: 88 s ahead 2 s after the heal of a 90 s skew).
 */
async function readClock(
  c: Clocked,
  http: boolean,
): Promise<{ probe_s: number; http_s?: number }> {
  const probe_s = await probeOffsetS(await probeEnv(c));
  const http_s = c.http && http ? await httpDateOffsetS(c.http) : undefined;
  return http_s === undefined ? { probe_s } : { probe_s, http_s };
}

/** Whole seconds of a `Date` header against the expected offset: within 2 s. */
const httpAgrees = (seen: number | undefined, expected: number) =>
  seen === undefined || Math.abs(seen - expected) <= 2;

export const clock = defineFault({
  kind: "clock",
  summary: "the wall clock jumps offset_s ahead (or back) and/or drifts at rate (libfaketime)",
  targets: ["component", "broker", "service"],
  stacks: BOTH_STACKS,
  params: clockParams,
  problem: (target, stack) => clockProblem(target, stack),
  async inject(ctx, nodes, params) {
    const targets: Clocked[] = [];
    for (const name of nodes) targets.push(await clocked(ctx, name));
    const written: Record<string, string> = {};
    const heal = async () => {
      for (const c of targets) await writeFaketime(c.file, REAL_CLOCK);
    };
    const seen: Record<string, { probe_s: number; http_s?: number }> = {};
    try {
      for (const c of targets) {
        const uptime = c.pid === undefined ? undefined : processUptimeS(c.pid);
        const offset = params.rate === 1 || uptime === undefined
          ? params.offset_s
          : driftOffset(params, uptime);
        written[c.name] = await writeFaketime(c.file, { offset_s: offset, rate: params.rate });
      }
      await sleep(SETTLE_MS);
      for (const c of targets) {
        const expected = Number(written[c.name].split(" ")[0]);
        const agrees = (now: { probe_s: number; http_s?: number }) =>
          Math.abs(now.probe_s - expected) <= 1 && httpAgrees(now.http_s, params.offset_s);
        // A loaded machine: the target's own answer may take a few more seconds to follow.
        let now = await readClock(c, params.offset_s > 0);
        for (let i = 0; i < RETRIES && !agrees(now); i++) {
          await sleep(500);
          now = await readClock(c, params.offset_s > 0);
        }
        seen[c.name] = now;
        if (!agrees(now)) {
          throw new Error(
            `the clock of ${c.name} did not move as written (${written[c.name]}): a probe ` +
              `reads ${now.probe_s} s${
                now.http_s === undefined ? "" : `, its Date header ${now.http_s} s`
              } ahead`,
          );
        }
      }
    } catch (error) {
      await heal();
      throw error;
    }
    const t0 = performance.now();
    return {
      observed: {
        offset_s: params.offset_s,
        rate: params.rate,
        written,
        preloaded: Object.fromEntries(targets.map((c) => [c.name, c.pids])),
        seen,
      },
      async heal() {
        const drifted = (params.rate - 1) * (performance.now() - t0) / 1000;
        const before: Record<string, number | null> = {};
        for (const c of targets) {
          // Its clock as it says (a Date header after a jump back would be stale).
          before[c.name] = c.http && params.offset_s >= 0
            ? await httpDateOffsetS(c.http) ?? null
            : null;
        }
        await heal();
        await sleep(SETTLE_MS);
        const after: Record<string, { probe_s: number; http_s?: number } | null> = {};
        for (const c of targets) {
          after[c.name] = await readClock(c, params.offset_s < 0).catch(() => null);
        }
        return {
          written: formatFaketime(REAL_CLOCK),
          expected_before_s: Math.round((params.offset_s + drifted) * 10) / 10,
          seen_before_s: before,
          seen_after: after,
        };
      },
    };
  },
});
