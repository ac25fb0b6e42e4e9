/**
 * Stack lifecycle through the real commands: `up` prints one JSON object and
 * is idempotent, `down` leaves no process, and a harness killed with SIGKILL
 * leaves nothing behind (the watchdog). One-broker stacks on their own ports,
 * beside any other stack that runs.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { LocalStack } from "./local_stack.ts";
import { processState } from "./process_node.ts";
import { slow } from "./testing.ts";
import { waitFor } from "../lib/wait.ts";

const base = Number(Deno.env.get("CHAOS_TEST_BASE_PORT") ?? 30000);

async function task(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdout: "piped",
    stderr: "piped",
    env: { CHAOS_QUIET: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const allDead = (pids: number[]) => pids.every((p) => processState(p) === "dead");

Deno.test(
  { name: "up --json, up again, down: one JSON object, nothing left", ...slow },
  async () => {
    const name = `lc-cli-${Deno.pid}`;
    const flags = ["--name", name, "--base-port", String(base + 700), "--brokers", "1"];
    try {
      const first = await task(["compose/cli_up.ts", "--json", ...flags]);
      assert.equal(first.code, 0, first.stderr);
      const lines = first.stdout.trim().split("\n");
      assert.equal(lines.length, 1, `stdout must be one line, got:\n${first.stdout}`);
      const endpoints = JSON.parse(lines[0]);
      assert.equal(endpoints.kafka.bootstrap, `127.0.0.1:${base + 700 + 111}`);
      assert.equal(endpoints.s3.bucket, "telemetry");
      // The harness's user and its password (the pipeline gets a user of its own: redis_acl.ts).
      assert.match(endpoints.redis.url, /^redis:\/\/:[^@]+@127\.0\.0\.1:\d+$/);
      assert.match(endpoints.toxiproxy.api, /^http:\/\/127\.0\.0\.1:\d+$/);

      const stack = (await LocalStack.attach(name))!;
      const pids = stack.pids();
      assert.equal(pids.length, 5, "kafka-1, minio, redis, toxiproxy, s3proxy");

      const second = await task(["compose/cli_up.ts", "--json", ...flags]);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(JSON.parse(second.stdout), endpoints, "up again prints the same stack");
      assert.deepEqual((await LocalStack.attach(name))!.pids(), pids, "up again starts nothing");

      const down = await task(["compose/cli_down.ts", "--name", name]);
      assert.equal(down.code, 0, down.stderr);
      assert.ok(allDead(pids), "a process of the stack outlived down");
      assert.equal(await LocalStack.attach(name), undefined);
    } finally {
      await task(["compose/cli_down.ts", "--name", name]);
    }
  },
);

Deno.test({ name: "a harness killed with SIGKILL leaves no process behind", ...slow }, async () => {
  const name = `lc-kill-${Deno.pid}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "compose/testdata/own_stack.ts", name, String(base + 400)],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdout: "piped",
    stderr: "null",
    env: { CHAOS_QUIET: "1" },
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const pids = JSON.parse(text.trim()) as number[];
    assert.equal(pids.length, 5, "kafka-1, minio, redis, toxiproxy, s3proxy");
    child.kill("SIGKILL");
    await child.status;
    await waitFor(() => allDead(pids), {
      what: "the watchdog to kill the stack",
      timeoutMs: 15_000,
    });
    reader.releaseLock();
  } finally {
    await (await LocalStack.attach(name))?.down();
  }
});

Deno.test("bad flags exit with code 2 and say what was wrong", async () => {
  const res = await task(["compose/cli_up.ts", "--base-port", "80"]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--base-port must be an integer/);
  const res2 = await task(["compose/cli_down.ts", "--bogus"]);
  assert.equal(res2.code, 2);
  assert.match(res2.stderr, /bogus/);
});
