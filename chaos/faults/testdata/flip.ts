/**
 * A fault kind of the tests' own (fault_table_test.ts): flips a flag on its
 * target node's name; healed by flipping it back. Pure, so the table's
 * derivations can be tested without a stack.
 * @module
 */

import { z } from "zod";
import { millis } from "../params.ts";
import { defineFault } from "../types.ts";

/** What `flip` did, by node name (the test reads it). */
export const flipped = new Set<string>();

export const flip = defineFault({
  kind: "flip",
  summary: "flips a flag on the target (tests only)",
  targets: ["component"],
  stacks: ["docker"],
  params: z.strictObject({
    delay_ms: millis(1000).describe("how long the flip takes"),
    side: z.enum(["up", "down"]).default("up").describe("which way it flips"),
  }),
  inject(_ctx, nodes, params) {
    for (const n of nodes) flipped.add(n);
    return Promise.resolve({
      observed: { flipped: nodes, side: params.side },
      heal() {
        for (const n of nodes) flipped.delete(n);
        return Promise.resolve({ unflipped: nodes });
      },
    });
  },
});
