/**
 * The `reset` fault: a Toxiproxy reset_peer toxic; connections are reset
 * (TCP RST) as soon as data flows.
 * @module
 */

import { toxicFault } from "./toxics.ts";

export const reset = toxicFault("reset", {
  summary: "Toxiproxy reset_peer toxic: connections reset as data flows",
  params: {},
}, () => ({
  type: "reset_peer",
  attributes: { timeout: 0 },
}));
