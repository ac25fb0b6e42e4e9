import assert from "node:assert/strict";
import { boundedCheck, CheckTimeoutError, TimeoutError, waitFor } from "./wait.ts";

Deno.test("waitFor: a check that hangs forever times out with the wait (default bound)", async () => {
  const started = performance.now();
  await assert.rejects(
    waitFor(() => new Promise<boolean>(() => {}), { what: "a hung server", timeoutMs: 300 }),
    TimeoutError,
  );
  assert.ok(performance.now() - started < 2500);
});

Deno.test("waitFor: checkTimeoutMs leaves a slow check behind and tries again", async () => {
  let calls = 0;
  const value = await waitFor(
    () => ++calls === 1 ? new Promise<boolean>(() => {}) : Promise.resolve(true),
    { what: "x", timeoutMs: 5000, checkTimeoutMs: 100, intervalMs: 10 },
  );
  assert.equal(value, true);
  assert.equal(calls, 2);
});

Deno.test("waitFor: the timeout says the check hung", async () => {
  await assert.rejects(
    waitFor(() => new Promise<boolean>(() => {}), {
      what: "redis HLEN",
      timeoutMs: 250,
      checkTimeoutMs: 100,
      intervalMs: 10,
    }),
    /waiting for redis HLEN: a check took longer than 100 ms/,
  );
});

Deno.test("boundedCheck: an abort ends a hung check at once", async () => {
  const ac = new AbortController();
  const p = boundedCheck(() => new Promise<number>(() => {}), 60_000, ac.signal);
  ac.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
  await assert.rejects(boundedCheck(() => Promise.reject(new Error("no")), 1000), /no/);
  assert.equal(await boundedCheck(() => 7, 1000), 7);
  await assert.rejects(boundedCheck(() => new Promise(() => {}), 10), CheckTimeoutError);
});
