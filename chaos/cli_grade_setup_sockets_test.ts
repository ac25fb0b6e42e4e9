/**
 * A submission's setup runs in a box that shares the host's ports as the components' boxes do, so
 * the socket guard counts it too: a setup that holds more sockets than CHAOS_SANDBOX_SOCKETS is
 * stopped and the grade FAILS with the evidence, before any stack starts (a real grade, seconds).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sandboxSupport } from "../compose/sandbox.ts";

/**
 * Holds `n` TCP sockets on ephemeral ports (setup may bind none: `listen()` on an unbound socket
 * takes one all the same), then waits.
 */
const BINDER = `
import socket, sys, time
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.listen(1); socks.append(s)
print("bound", len(socks), flush=True)
time.sleep(float(sys.argv[2]))
`;

async function grade(dir: string, held: number): Promise<{ code: number; text: string }> {
  await Deno.writeTextFile(join(dir, "binder.py"), BINDER);
  await Deno.writeTextFile(
    join(dir, "submission.yaml"),
    [
      "name: setup-sockets",
      `setup: python3 binder.py ${held} 3`,
      "pipeline:",
      "  sink: sleep 1",
      "  detector: sleep 1",
      "timeout: 2m",
      "",
    ].join("\n"),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(import.meta.dirname!, "cli_grade.ts"),
      "--submission",
      join(dir, "submission.yaml"),
      "--out",
      join(dir, "out"),
    ],
    env: { CHAOS_SANDBOX_SOCKETS: "200", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test({
  name:
    "a setup holding 400 sockets under a bound of 200 is stopped and the grade fails with the evidence",
  ignore: sandboxSupport() !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "chaos-setup-sockets-" });
    try {
      const { code, text } = await grade(dir, 400);
      assert.equal(code, 1, text);
      assert.match(
        text,
        /the setup's sandbox held \d+ sockets of the host \(bound 200.*see .*setup\.log\)/,
        text,
      );
      // Failed at setup: no scenario ran.
      assert.doesNotMatch(text, /stack .*: healthy/, text);
      const history = await Deno.readTextFile(join(dir, "out", "setup-history.jsonl"));
      assert.match(history, /"what":"socket-guard","value":\{"box":"setup"/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
