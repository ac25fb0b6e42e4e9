import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const exitCodes = fileURLToPath(new URL("./exit_codes.ts", import.meta.url));

/** Runs a command's `main` body (TypeScript) under `runMain` in a Deno of its own. */
async function command(body: string): Promise<{ code: number; stderr: string }> {
  const script = `import { runMain, tolerateRejections } from ${JSON.stringify(exitCodes)};\n` +
    `void tolerateRejections;\nawait runMain(async () => {\n${body}\n});\n`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const later = "await new Promise((r) => setTimeout(r, 200));";

Deno.test("runMain: a rejection nobody handles ends the command with exit 3, not Deno's 1 (a fail)", async () => {
  const r = await command(`Promise.reject(new Error("boom in a callback")); ${later}`);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /the harness failed unexpectedly \(an unhandled rejection\)/);
  assert.match(r.stderr, /boom in a callback/);
});

Deno.test("runMain: an uncaught exception in a callback ends the command with exit 3", async () => {
  const r = await command(`setTimeout(() => { throw new Error("thrown late"); }, 10); ${later}`);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /an uncaught exception/);
  assert.match(r.stderr, /thrown late/);
});

Deno.test("runMain: a rejection a tolerance accepts is dropped; others still end it", async () => {
  const tolerated = await command(
    `const stop = tolerateRejections((e) => (e as Error).name === "Abandoned");\n` +
      `const e = new Error("left by a fault"); e.name = "Abandoned"; Promise.reject(e);\n` +
      `${later} stop(); return 0;`,
  );
  assert.equal(tolerated.code, 0, tolerated.stderr);
  const other = await command(
    `tolerateRejections((e) => (e as Error).name === "Abandoned");\n` +
      `Promise.reject(new Error("not abandoned")); ${later}`,
  );
  assert.equal(other.code, 3, other.stderr);
});
