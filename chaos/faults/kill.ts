/**
 * The `kill` fault: SIGKILL the target (docker: kill the container); healed by
 * starting it again on the same data.
 * @module
 */

import { signalFault } from "./signals.ts";

export const kill = signalFault({
  kind: "kill",
  summary: "SIGKILL (docker: kill); healed by a start on the same data",
  signal: "SIGKILL",
  act: (node) => node.kill(),
  expected: "dead",
  observed: "killed",
  undo: (node) => node.start(),
  undone: "started",
});
