/**
 * The `bandwidth` fault: a Toxiproxy bandwidth toxic leaving `rate_kbps` KiB/s.
 * @module
 */

import { z } from "zod";
import { toxicFault } from "./toxics.ts";

/** A rate in KiB/s (bandwidth, tbf). */
export const rateKbps = z.number().int().min(1).max(10_000_000);

export const bandwidth = toxicFault("bandwidth", {
  summary: "Toxiproxy bandwidth toxic: rate_kbps KiB/s left",
  params: { rate_kbps: rateKbps.describe("the rate left, in KiB/s") },
}, (p) => ({
  type: "bandwidth",
  attributes: { rate: p.rate_kbps },
}));
