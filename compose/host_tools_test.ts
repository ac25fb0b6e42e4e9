/** The Docker engine started detached keeps no descriptor of its starter (a `flock`'s lock). */

import assert from "node:assert/strict";
import { DAEMON_CLOSED_FDS } from "./host_tools.ts";

Deno.test("a daemon started detached does not inherit descriptor 3 (the lock of flock)", async () => {
  const lock = await Deno.makeTempFile({ suffix: ".lock" });
  try {
    // As `flock <lock> deno ...` leaves it: the lock open on fd 3 in the starter.
    const script = `exec 3<"${lock}"; ls -l /proc/self/fd; echo SPLIT; ` +
      `sh -c 'exec ls -l /proc/self/fd ${DAEMON_CLOSED_FDS}'`;
    const out = await new Deno.Command("sh", { args: ["-c", script] }).output();
    const [before, after] = new TextDecoder().decode(out.stdout).split("SPLIT");
    assert.ok(before.includes(lock), "the starter holds the lock");
    assert.ok(!after.includes(lock), `the daemon does not: ${after}`);
  } finally {
    await Deno.remove(lock);
  }
});
