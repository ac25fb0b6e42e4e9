/**
 * `grade` refuses a local stack whose ports lie in the kernel's ephemeral port range (exit 2,
 * before anything starts): a sandboxed pipeline's bind(0) could take a service's port there.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ephemeralStackRefusal } from "./cli_grade.ts";
import { ephemeralRange, portsInRange } from "../compose/local_services.ts";
import { DEFAULT_RUN_BASE_PORT, runBasePort } from "./engine.ts";

Deno.test("ephemeralStackRefusal() refuses a stack with any port in the range, names them and a base port to pick", () => {
  const range: [number, number] = [32768, 60999];
  assert.equal(ephemeralStackRefusal(DEFAULT_RUN_BASE_PORT, range), undefined);
  assert.equal(ephemeralStackRefusal(32768 - 300, range), undefined, "its last port is 32767");
  assert.equal(ephemeralStackRefusal(61000, range), undefined, "above the range");
  assert.equal(ephemeralStackRefusal(40000, undefined), undefined, "no range read: no refusal");
  const edge = ephemeralStackRefusal(32768 - 299, range);
  assert.ok(edge, "its last port is the range's first");
  assert.match(edge, /ports 32768-32768 of the stack at base port 32469 \(CHAOS_RUN_BASE_PORT\)/);
  assert.match(edge, /are in 32768-60999 \(net\.ipv4\.ip_local_port_range\)/);
  assert.match(
    edge,
    /hint: set CHAOS_RUN_BASE_PORT to a base port from 1024 to 32468 or from 61000 to 65235/,
  );
  assert.match(ephemeralStackRefusal(40000, range) ?? "", /ports 40000-40299 /);
  // A range that leaves room on neither side still says what to do.
  assert.match(ephemeralStackRefusal(30000, [1100, 65400]) ?? "", /base port outside the range/);
});

Deno.test("portsInRange() and ephemeralRange() read the kernel's range and what lies in it", async () => {
  assert.deepEqual(portsInRange([40001, 29000, 40000, 61000], [32768, 60999]), [40000, 40001]);
  const dir = await Deno.makeTempDir({ prefix: "ephemeral-range-" });
  try {
    await Deno.writeTextFile(join(dir, "range"), "32768\t60999\n");
    assert.deepEqual(ephemeralRange(join(dir, "range")), [32768, 60999]);
    await Deno.writeTextFile(join(dir, "bad"), "lots\n");
    assert.equal(ephemeralRange(join(dir, "bad")), undefined);
    assert.equal(ephemeralRange(join(dir, "missing")), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const env = (v?: string) => ({ get: () => v });
  assert.equal(runBasePort(env()), DEFAULT_RUN_BASE_PORT);
  assert.equal(runBasePort(env("25200")), 25200);
});

Deno.test({
  name: "grade exits 2 before anything starts when CHAOS_RUN_BASE_PORT puts the stack in the range",
  ignore: ephemeralRange() === undefined,
  fn: async () => {
    const [lo] = ephemeralRange()!;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(import.meta.dirname!, "cli_grade.ts"),
        "--submission",
        "/nonexistent/submission.yaml",
      ],
      env: { CHAOS_RUN_BASE_PORT: String(lo) },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 2, text);
    assert.match(
      text,
      /cannot grade on a stack whose ports lie in the kernel's ephemeral port range/,
    );
    // Refused before the submission was even read.
    assert.doesNotMatch(text, /cannot read the submission/);
  },
});
