/**
 * The connection gate's socket folder does not outlive its process: `close()` removes it, so does
 * an exit without it (`unload`), and one left by a process killed outright is removed by the next
 * gate (`removeStaleGates`). (The gate's bounds: webhook_receiver_connections_test.ts.)
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ConnectionGate, removeStaleGates } from "./connection_gate.ts";

const GATE = new URL("./connection_gate.ts", import.meta.url).href;

/** The gate folders in `dir`. */
function gateDirs(dir: string): string[] {
  return [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("chaos-gate-"))
    .map((e) => join(dir, e.name)).sort();
}

/**
 * A Deno process that opens a gate in `dir`, prints its socket and then does `then` (`exit`:
 * Deno.exit(0) while serving; `end`: runs off its end with the gate made, not started; `wait`:
 * serves until killed).
 */
function child(dir: string, then: "exit" | "end" | "wait") {
  const code = `import { ConnectionGate } from ${JSON.stringify(GATE)};
const gate = new ConnectionGate({ tmpDir: ${JSON.stringify(dir)} });
console.log(gate.socketPath);
${
    then === "end"
      ? ""
      : `Deno.serve({ path: gate.socketPath, onListen: () => {} }, () => new Response("ok"));
gate.start();
${then === "exit" ? "Deno.exit(0);" : ""}`
  }`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** The first line the child printed. */
async function firstLine(process: Deno.ChildProcess): Promise<string> {
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

async function inTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "gate-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ConnectionGate: its folder goes with close(), and with its process's exit", async () => {
  await inTempDir(async (dir) => {
    const gate = new ConnectionGate({ tmpDir: dir });
    assert.match(gate.socketPath, new RegExp(`/chaos-gate-${Deno.pid}-\\d+-[^/]+/http\\.sock$`));
    assert.equal(gateDirs(dir).length, 1);
    await gate.close();
    assert.deepEqual(gateDirs(dir), []);

    for (const then of ["exit", "end"] as const) {
      const p = child(dir, then);
      const socket = await firstLine(p);
      assert.ok(socket.endsWith("/http.sock"), socket);
      assert.equal((await p.status).code, 0);
      assert.deepEqual(gateDirs(dir), [], `no folder left after ${then}`);
    }
  });
});

Deno.test("ConnectionGate: a folder its dead process left is removed by the next gate", async () => {
  await inTempDir(async (dir) => {
    const killed = child(dir, "wait");
    const socket = await firstLine(killed);
    killed.kill("SIGKILL");
    await killed.status;
    await killed.stdout.cancel().catch(() => {});
    const left = join(socket, "..");
    assert.deepEqual(gateDirs(dir), [left], "SIGKILL leaves it");

    // A live gate's folder, a recycled pid's (this process, another start time), an older unnamed
    // one nobody listens on, and an unnamed one something listens on.
    const live = new ConnectionGate({ tmpDir: dir });
    assert.deepEqual(gateDirs(dir), [join(live.socketPath, "..")], "the new gate removed it");
    const recycled = join(dir, `chaos-gate-${Deno.pid}-1-abcdef`);
    const unnamedDead = join(dir, "chaos-gate-Xy12Zq");
    const unnamedLive = join(dir, "chaos-gate-Ab34Cd");
    for (const d of [recycled, unnamedDead, unnamedLive]) Deno.mkdirSync(d);
    Deno.writeTextFileSync(join(unnamedDead, "http.sock"), "");
    const listener = Deno.listen({ transport: "unix", path: join(unnamedLive, "http.sock") });
    try {
      assert.deepEqual(removeStaleGates(dir).sort(), [unnamedDead, recycled].sort());
      assert.deepEqual(gateDirs(dir), [unnamedLive, join(live.socketPath, "..")].sort());
    } finally {
      listener.close();
      await live.close();
    }
    assert.deepEqual(removeStaleGates(dir), [unnamedLive], "nobody listens there now");
    assert.deepEqual(gateDirs(dir), []);
  });
});
