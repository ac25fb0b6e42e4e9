/**
 * The `pause` fault: SIGSTOP the target (docker: pause); healed by SIGCONT.
 * @module
 */

import { signalFault } from "./signals.ts";

export const pause = signalFault({
  kind: "pause",
  summary: "SIGSTOP (docker: pause); healed by SIGCONT (unpause)",
  signal: "SIGSTOP",
  act: (node) => node.pause(),
  expected: "paused",
  observed: "paused",
  undo: (node) => node.resume(),
  undone: "resumed",
});
