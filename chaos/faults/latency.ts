/**
 * The `latency` fault: a Toxiproxy latency toxic (`latency_ms` ± `jitter_ms`)
 * on the target brokers' listeners.
 * @module
 */

import { millis } from "./params.ts";
import { toxicFault } from "./toxics.ts";

export const latency = toxicFault("latency", {
  summary: "Toxiproxy latency toxic (latency_ms ± jitter_ms) on the brokers' listeners",
  params: {
    latency_ms: millis(60_000).describe("delay added to each chunk of data"),
    jitter_ms: millis(60_000).default(0).describe("± this much at random"),
  },
}, (p) => ({
  type: "latency",
  attributes: { latency: p.latency_ms, jitter: p.jitter_ms },
}));
