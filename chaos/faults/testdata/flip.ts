/**
 * A fault kind of the tests' own (fault_table_test.ts): flips a flag on its
 * target node's name; healed by flipping it back. Pure, so the table's
 * derivations can be tested without a stack.
 * @module
 */

import { type Fault, requires } from "../types.ts";

/** What `flip` did, by node name (the test reads it). */
export const flipped = new Set<string>();

export const flip: Fault = {
  kind: "flip",
  summary: "flips a flag on the target (tests only)",
  targets: ["component"],
  stacks: ["docker"],
  params: ["delay_ms"],
  missing: requires("delay_ms"),
  inject(_ctx, nodes) {
    for (const n of nodes) flipped.add(n);
    return Promise.resolve({
      observed: { flipped: nodes },
      heal() {
        for (const n of nodes) flipped.delete(n);
        return Promise.resolve({ unflipped: nodes });
      },
    });
  },
};
