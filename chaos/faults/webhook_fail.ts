/**
 * The `webhook_fail` fault: the harness's webhook receiver answers `status`
 * (default 503), or with `delay_ms` answers slowly; healed: 200 again.
 * @module
 */

import { z } from "zod";
import { millis } from "./params.ts";
import { BOTH_STACKS, defineFault } from "./types.ts";

export const webhookFail = defineFault({
  kind: "webhook_fail",
  summary: "the webhook receiver answers `status` (default 503), or answers after delay_ms",
  targets: ["webhook"],
  stacks: BOTH_STACKS,
  external: "harness",
  params: z.strictObject({
    status: z.number().int().min(100).max(599).optional().describe(
      "the status the receiver answers (default 503; with delay_ms 200)",
    ),
    delay_ms: millis(600_000).optional().describe(
      "answer this slowly (the status after the delay)",
    ),
  }),
  inject(ctx, _nodes, params) {
    // An error status, or with delay_ms a slow answer (of that status; 200 keeps it a success).
    const status = params.status ?? (params.delay_ms ? 200 : 503);
    ctx.receiver.failUntil(Number.MAX_SAFE_INTEGER, { status, delayMs: params.delay_ms });
    return Promise.resolve({
      observed: { status, delay_ms: params.delay_ms ?? 0 },
      heal() {
        ctx.receiver.failUntil(0);
        return Promise.resolve({ answering: 200 });
      },
    });
  },
});
