/**
 * The `bandwidth` fault: a Toxiproxy bandwidth toxic leaving `rate_kbps` KiB/s.
 * @module
 */

import { toxicFault } from "./toxics.ts";
import { requires } from "./types.ts";

export const bandwidth = toxicFault("bandwidth", {
  summary: "Toxiproxy bandwidth toxic: rate_kbps KiB/s left",
  params: ["rate_kbps"],
  missing: requires("rate_kbps"),
}, (p) => ({
  type: "bandwidth",
  attributes: { rate: p.rate_kbps ?? 0 },
}));
