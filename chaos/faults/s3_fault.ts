/**
 * The `s3_fault` fault: S3 API failures as the pipeline sees them, made by the
 * local stack's S3 proxy (compose/s3_proxy.ts), which stands between the
 * pipeline's components and MinIO and passes everything through until told to
 * misbehave. On a `share` of the requests whose method is in `methods`
 * (default PUT): `error_500` answers 500 InternalError, `slowdown` 503
 * SlowDown (S3 XML bodies, nothing forwarded), `stall` holds each request
 * `stall_ms` before forwarding it, `reset` cuts the connection mid-body, and
 * `lost_answer` forwards the request, MinIO stores it, and the answer is
 * dropped (the client sees a failure for a write that happened). The target
 * is `minio`: the S3 API the pipeline talks to; the harness's own reads go to
 * MinIO directly and are never touched.
 *
 * It acts only on real writes to the run's store: PUTs and POSTs (uploads,
 * multipart parts) of batch keys of the run's topic in the pipeline's bucket
 * (the contract's layout, validate/layout.ts; compose/s3_proxy.ts
 * `isStoreWrite`). Junk writes to other keys or another bucket, HEADs and
 * reads pass untouched: a sink cannot spend a "next N requests" fault on
 * decoys, nor inflate the evidence with them.
 *
 * Its evidence is how many real store writes the proxy faulted in that mode
 * (`store_writes_faulted`, and the distinct keys, `keys_faulted`): the fault
 * waits (20 s) for one, else it is cleared and reported as without effect (the
 * run is then `unknown`: a fault that only met decoys proves nothing). The
 * heal clears the mode and records the counts of the whole fault. On the
 * local stack and the docker stack (there the proxy is a process on the
 * harness's host before MinIO's container: compose/docker_proxies.ts).
 * @module
 */

import { z } from "zod";
import {
  countsSince,
  EFFECT_COUNT,
  S3_PROXY_MODES,
  S3ProxyControl,
  type S3ProxyCounts,
} from "../../compose/s3_proxy.ts";
import { sleep } from "../../lib/wait.ts";
import { millis, probability } from "./params.ts";
import { defineFault, type FaultContext } from "./types.ts";

/** The methods of a real store write. */
const STORE_WRITES = ["PUT", "POST"] as const;

/** How long the fault waits for the proxy to count its first effect. */
export const OBSERVE_WAIT_MS = 20_000;

/** Why `s3_fault` cannot act on `target`, or undefined. */
export function s3TargetProblem(target: string): string | undefined {
  return target === "minio" ? undefined : `s3_fault acts on minio (its S3 API), not ${target}`;
}

const params = z.strictObject({
  mode: z.enum(S3_PROXY_MODES).describe(
    "error_500 (500 InternalError), slowdown (503 SlowDown), stall (hold stall_ms, then " +
      "forward), reset (cut the connection mid-body), lost_answer (forward, stored, answer dropped)",
  ),
  share: probability.refine((s) => s > 0, "must be more than 0").default(1).describe(
    "the probability that a request of `methods` is acted on",
  ),
  methods: z.array(z.enum(STORE_WRITES)).min(1).default(["PUT", "POST"]).describe(
    "the HTTP methods of the store writes acted on (default both: PUT, and POST so that a sink " +
      "uploading by POST Object or multipart is struck too); only writes of the run's batch " +
      "keys count, never reads, HEADs or writes elsewhere",
  ),
  stall_ms: millis(600_000).optional().describe(
    "mode stall only (and required there): how long each request is held",
  ),
}).superRefine((p, ctx) => {
  if (p.mode === "stall" && p.stall_ms === undefined) {
    ctx.addIssue({ code: "custom", path: ["stall_ms"], message: "mode stall needs stall_ms" });
  }
  if (p.mode !== "stall" && p.stall_ms !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["stall_ms"],
      message: `applies to mode stall only, not ${p.mode}`,
    });
  }
});

/** The stack's S3 proxy, or an error that says why there is none. */
function proxyOf(ctx: FaultContext): S3ProxyControl {
  const proxy = ctx.stack.s3Proxy;
  if (!proxy) {
    throw new Error(
      `s3_fault needs the stack's S3 proxy, and stack "${ctx.stack.name}" runs without ` +
        "one (started with CHAOS_S3_PROXY=off, or by an older harness: deno task down, then up)",
    );
  }
  return new S3ProxyControl(proxy.control);
}

/** Polls the proxy until `count` rose above `before`, or `waitMs` passed; the counts since. */
export async function waitForEffect(
  read: () => Promise<S3ProxyCounts>,
  before: S3ProxyCounts,
  count: keyof S3ProxyCounts,
  waitMs = OBSERVE_WAIT_MS,
): Promise<S3ProxyCounts> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const since = countsSince(before, await read());
    if (since[count] > 0 || performance.now() >= deadline) return since;
    await sleep(200);
  }
}

/** The evidence: how many real store writes were faulted, and of how many distinct keys. */
export function storeEvidence(
  counted: S3ProxyCounts,
  count: keyof S3ProxyCounts,
): { store_writes_faulted: number; keys_faulted: number } {
  return { store_writes_faulted: counted[count], keys_faulted: counted.struck_keys };
}

export const s3Fault = defineFault({
  kind: "s3_fault",
  summary:
    "S3 API failures from the stack's S3 proxy before MinIO, on a `share` of the pipeline's requests of `methods` (default PUT): 500, 503 SlowDown, a stall, a reset mid-body, or a stored PUT whose answer is dropped; observed by the proxy's counts; healed by clearing the mode",
  targets: ["service"],
  stacks: ["local", "docker"],
  params,
  problem: (target) => s3TargetProblem(target),
  async inject(ctx, _nodes, p) {
    const control = proxyOf(ctx);
    const now = await control.state();
    if (now.mode) {
      throw new Error(
        `the S3 proxy already acts (mode ${now.mode.mode}): one s3_fault at a time`,
      );
    }
    const before = now.counts;
    const count = EFFECT_COUNT[p.mode];
    // Only the run's store: the pipeline's bucket, the run's topic's batch keys.
    const store = {
      bucket: ctx.stack.endpoints.s3.bucket,
      ...(ctx.topic ? { topic: ctx.topic } : {}),
    };
    const mode = {
      mode: p.mode,
      share: p.share,
      methods: p.methods,
      ...(p.mode === "stall" ? { stall_ms: p.stall_ms } : {}),
      store,
    };
    let effect: S3ProxyCounts;
    try {
      await control.set(mode);
      effect = await waitForEffect(async () => (await control.state()).counts, before, count);
      if (effect[count] === 0) {
        throw new Error(
          `s3_fault had no effect: the S3 proxy counted no ${count} of a real store write ` +
            `within ${OBSERVE_WAIT_MS / 1000} s (${effect.seen} requests seen, ` +
            `${effect.store_writes} of them ${p.methods.join("/")} of the run's batch keys in ` +
            `bucket ${store.bucket}; writes elsewhere are decoys and count for nothing)`,
        );
      }
    } catch (error) {
      await control.clear().catch(() => {});
      throw error;
    }
    return {
      observed: { ...mode, ...storeEvidence(effect, count), counted: effect },
      async heal() {
        const after = await control.clear();
        const during = countsSince(before, after.counts);
        return { cleared: true, ...storeEvidence(during, count), counted: during };
      },
    };
  },
});
