import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { keepRunning, type RestartableConsumer } from "./consumer_restart.ts";

/** A consumer that records connects and crashes as kafkajs reports them. */
class Crashing extends EventEmitter implements RestartableConsumer {
  events = { CRASH: "consumer.crash" };
  connects = 0;
  failConnects = 0;
  crash(restart: boolean, message = "The server experienced an unexpected error") {
    this.emit(this.events.CRASH, { payload: { error: new Error(message), restart } });
  }
  connect(): Promise<void> {
    this.connects++;
    return this.failConnects-- > 0
      ? Promise.reject(new Error("Connection refused"))
      : Promise.resolve();
  }
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

Deno.test("keepRunning: a crash kafkajs gives up on runs the consumer again", async () => {
  const c = new Crashing();
  const lines: string[] = [];
  let runs = 0;
  let dropped = 0;
  keepRunning(c, () => Promise.resolve(void runs++), {
    stopping: () => false,
    log: (l) => lines.push(l),
    beforeRestart: () => dropped++,
    delayMs: 1,
  });
  c.crash(true); // kafkajs restarts this one itself
  await tick();
  assert.equal(runs, 0);
  c.crash(false);
  c.crash(false); // the same crash reported twice: one restart
  await tick();
  assert.deepEqual([c.connects, runs, dropped], [1, 1, 1]);
  assert.match(lines[0], /stopped on Error: The server experienced an unexpected error/);
  c.crash(false); // a later crash: restarted again
  await tick();
  assert.deepEqual([c.connects, runs], [2, 2]);
});

Deno.test("keepRunning: it tries again while the brokers refuse, and not once stopping", async () => {
  const c = new Crashing();
  const lines: string[] = [];
  let runs = 0;
  let stopping = false;
  keepRunning(c, () => Promise.resolve(void runs++), {
    stopping: () => stopping,
    log: (l) => lines.push(l),
    delayMs: 1,
  });
  c.failConnects = 2;
  c.crash(false);
  await tick(50);
  assert.deepEqual([c.connects, runs], [3, 1]);
  assert.match(lines[2], /failed \(Connection refused\): attempt 3/);
  stopping = true;
  c.crash(false);
  await tick();
  assert.deepEqual([c.connects, runs], [3, 1]);
});

Deno.test("keepRunning: a run that fails at once is tried again", async () => {
  const c = new Crashing();
  let runs = 0;
  keepRunning(
    c,
    () => runs++ === 0 ? Promise.reject(new Error("join failed")) : Promise.resolve(),
    {
      stopping: () => false,
      log: () => {},
      delayMs: 1,
    },
  );
  c.crash(false);
  await tick(50);
  assert.equal(runs, 2);
});
