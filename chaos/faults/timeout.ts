/**
 * The `timeout` fault: a Toxiproxy timeout toxic; connections stall and are
 * closed after `timeout_ms` (0: they stall until healed).
 * @module
 */

import { millis } from "./params.ts";
import { toxicFault } from "./toxics.ts";

export const timeout = toxicFault("timeout", {
  summary: "Toxiproxy timeout toxic: connections stall, closed after timeout_ms (0: never)",
  params: {
    timeout_ms: millis(600_000).default(0).describe(
      "connections stall, then close after this long (0: stall until healed)",
    ),
  },
}, (p) => ({
  type: "timeout",
  attributes: { timeout: p.timeout_ms },
}));
