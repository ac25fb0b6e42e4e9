/**
 * The `stop` fault: SIGTERM the target and wait for it to exit (docker: stop);
 * healed by starting it again.
 * @module
 */

import { signalFault } from "./signals.ts";

export const stop = signalFault({
  kind: "stop",
  summary: "SIGTERM (docker: stop); healed by a start",
  signal: "SIGTERM",
  act: (node) => node.stop({ graceMs: 30_000 }),
  expected: "dead",
  observed: "stopped",
  undo: (node) => node.start(),
  undone: "started",
});
