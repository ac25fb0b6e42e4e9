/**
 * The `latency` fault: a Toxiproxy latency toxic (`latency_ms` ± `jitter_ms`)
 * on the target brokers' listeners.
 * @module
 */

import { toxicFault } from "./toxics.ts";
import { requires } from "./types.ts";

export const latency = toxicFault("latency", {
  summary: "Toxiproxy latency toxic (latency_ms ± jitter_ms) on the brokers' listeners",
  params: ["latency_ms", "jitter_ms"],
  missing: requires("latency_ms"),
}, (p) => ({
  type: "latency",
  attributes: { latency: p.latency_ms ?? 0, jitter: p.jitter_ms ?? 0 },
}));
