import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

Deno.test("scenario --json: stdout is the verdict object only, whatever a thread prints; the child's exit code", async () => {
  const script = fileURLToPath(new URL("./testdata/json_noise.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--seed", "7"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, stderr);
  assert.deepEqual(JSON.parse(stdout), { verdict: "fail", args: ["--seed", "7"] }, stdout);
  for (const noise of ["main thread noise", "worker noise", "late worker noise"]) {
    assert.match(stderr, new RegExp(noise), "the run's other lines go to stderr");
  }
});
