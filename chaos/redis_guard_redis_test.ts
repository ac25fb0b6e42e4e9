/**
 * The Redis guard against a real redis-server of the test's own, with the
 * local stack's users (compose/redis_acl.ts): the pipeline's user blocks Redis
 * with an endless `EVAL` (ended by SCRIPT KILL), with one that wrote first
 * (UNKILLABLE: ended by restarting Redis on its data), with an endless
 * function (`FCALL`: FUNCTION KILL); each is a recorded, failing finding (unguarded, the stack's
 * health probe finds such a Redis not ready: the run would be unknown), and
 * Redis answers the harness again afterwards. A frozen Redis is not blamed.
 * Commands that block Redis without BUSY (a SUNIONSTORE of large sets, scripts
 * just under the threshold back to back) are read from the SLOWLOG and fail
 * the run too; what ran before the guard started does not count.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  makeRedisUsers,
  PIPELINE_REDIS_USER,
  redisUrl,
  type RedisUsers,
} from "../compose/redis_acl.ts";
import { writeRedisAclFile } from "../compose/redis_acl.ts";
import { redisPing } from "../compose/probes.ts";
import {
  encodeCommand,
  type RedisAddress,
  redisAddress,
  redisCommands,
} from "../compose/redis_wire.ts";
import { REDIS_BOUNDS, REDIS_DURABILITY } from "../compose/stack.ts";
import { slow } from "../compose/testing.ts";
import { sleep, waitFor } from "../lib/wait.ts";
import { History } from "../validate/history.ts";
import { BUSY_REPLY_THRESHOLD_MS, RedisGuard } from "./redis_guard.ts";

/** A redis-server of the test's (restartable on its data), as the local stack runs it. */
class TestRedis {
  #child?: Deno.ChildProcess;
  constructor(readonly dir: string, readonly port: number, readonly users: RedisUsers) {}

  get harness(): string {
    return redisUrl("127.0.0.1", this.port, "default", this.users.harness);
  }
  get pipeline(): RedisAddress {
    return redisAddress(redisUrl("127.0.0.1", this.port, PIPELINE_REDIS_USER, this.users.pipeline));
  }

  async start(): Promise<void> {
    const acl = join(this.dir, "redis.acl");
    await writeRedisAclFile(acl, this.users);
    this.#child = new Deno.Command(Deno.env.get("CHAOS_REDIS_BIN") ?? "redis-server", {
      args: [
        ...["--aclfile", acl, "--port", String(this.port), "--bind", "127.0.0.1"],
        ...["--dir", this.dir, ...REDIS_DURABILITY, ...REDIS_BOUNDS, "--daemonize", "no"],
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const address = redisAddress(this.harness);
    await waitFor(async () => (await redisCommands(address, [["PING"]]))[0]?.text === "PONG", {
      what: "the test's redis-server to answer",
      timeoutMs: 30_000,
    });
  }

  pid(): number {
    return this.#child!.pid;
  }

  async kill(): Promise<void> {
    if (!this.#child) return;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#child.status;
    this.#child = undefined;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}

async function withRedis(fn: (redis: TestRedis, history: History) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "redis-guard-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const redis = new TestRedis(dir, port, makeRedisUsers());
  try {
    await redis.start();
    await fn(redis, new History(join(dir, "history.jsonl")));
  } finally {
    await redis.kill();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A script that spins `us` µs by Redis's own clock, then returns 1. */
function spinScript(us: number): string {
  return "local t = redis.call('TIME') while true do local u = redis.call('TIME') " +
    `if (u[1] - t[1]) * 1000000 + (u[2] - t[2]) >= ${us} then return 1 end end`;
}

/** The guard's stack options as the engine gives them on the harness's stacks (its /proc too). */
function watching(redis: TestRedis, history: History) {
  return {
    url: redis.harness,
    history,
    restart: () => redis.restart(),
    pid: () => redis.pid(),
  };
}

/** Loads `spinScript(us)` as the pipeline's user; its sha. */
async function loadSpin(redis: TestRedis, us: number): Promise<string> {
  const [sha] = await redisCommands(redis.pipeline, [["SCRIPT", "LOAD", spinScript(us)]]);
  assert.equal(sha?.type, "$", JSON.stringify(sha));
  return sha.text;
}

function asPipeline(redis: TestRedis, command: string[]) {
  return redisCommands(redis.pipeline, [command], { timeoutMs: 60_000 });
}

/** Probes until the guard has seen a block (the script needs the threshold to show as BUSY). */
async function untilBlocked(guard: RedisGuard) {
  await waitFor(async () => (await guard.check()) !== undefined, {
    what: "the guard to see Redis busy",
    timeoutMs: 30_000,
  });
  return guard.incidents()[0];
}

async function harnessCan(redis: TestRedis) {
  const replies = await redisCommands(redisAddress(redis.harness), [["SET", "after", "1"], [
    "GET",
    "after",
  ]]);
  assert.deepEqual(replies.map((r) => r.type), ["+", "$"], "Redis answers the harness again");
}

Deno.test(
  {
    name:
      "redis guard: an endless EVAL of the pipeline's is ended by SCRIPT KILL and fails the run",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      const guard = RedisGuard.manual({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
      });
      assert.equal(await guard.check(), undefined, "an idle Redis is no finding");
      const blocked = asPipeline(redis, ["EVAL", "while true do end", "0"]);
      const incident = await untilBlocked(guard);
      assert.equal(incident.ended_by, "SCRIPT KILL");
      assert.match(incident.answer, /^BUSY /);
      assert.ok(incident.blocked_ms >= BUSY_REPLY_THRESHOLD_MS, String(incident.blocked_ms));
      const [answer] = await blocked;
      assert.match(answer?.text ?? "", /killed/i, "the pipeline's EVAL was killed");
      await harnessCan(redis);
      assert.match(
        (await guard.stop())!,
        /^the pipeline blocked Redis with a script for \d+\.\d s \(Redis answered BUSY .*SCRIPT KILL\)$/,
      );
      const recorded = history.events.filter((e) => e.what === "redis-busy");
      assert.deepEqual(recorded.map((e) => e.type), ["fail"]);
    });
  },
);

Deno.test(
  {
    name: "redis guard: an endless EVAL that wrote first (UNKILLABLE) is ended by restarting " +
      "Redis on its data, and fails the run",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      const harness = redisAddress(redis.harness);
      assert.equal((await redisCommands(harness, [["SET", "before", "kept"]]))[0]?.text, "OK");
      const guard = RedisGuard.manual({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
      });
      const before = redis.pid();
      const blocked = asPipeline(redis, [
        "EVAL",
        "redis.call('SET', 'k', 'v') while true do end",
        "0",
      ]);
      // Unguarded, the stack's health probe fails from now on: the run would be unknown.
      const { port, users } = redis;
      await waitFor(async () => !(await redisPing(port, "127.0.0.1", 8000, users.harness)), {
        what: "the health probe to find Redis not ready",
        timeoutMs: 30_000,
      });
      const incident = await untilBlocked(guard);
      assert.equal(incident.ended_by, "restart");
      assert.match(incident.kill_answers[0], /^-UNKILLABLE/);
      assert.notEqual(redis.pid(), before, "Redis was restarted");
      await blocked; // its connection is gone with the old Redis
      await harnessCan(redis);
      const [kept, partial] = await redisCommands(harness, [["GET", "before"], ["EXISTS", "k"]]);
      assert.equal(kept?.text, "kept", "what was acknowledged before survives the restart (AOF)");
      assert.equal(partial?.text, "0", "the killed script's write is not applied");
      assert.match((await guard.stop())!, /a restart of Redis/);
    });
  },
);

Deno.test(
  { name: "redis guard: an endless function (FCALL) is ended by FUNCTION KILL", ...slow },
  async () => {
    await withRedis(async (redis, history) => {
      const library =
        "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
      const [loaded] = await redisCommands(redis.pipeline, [["FUNCTION", "LOAD", library]]);
      assert.equal(loaded?.text, "spin", "the pipeline's user may load functions");
      const guard = RedisGuard.manual({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
      });
      const blocked = asPipeline(redis, ["FCALL", "spin", "0"]);
      const incident = await untilBlocked(guard);
      assert.equal(incident.ended_by, "FUNCTION KILL");
      assert.match(incident.kill_answers[0], /^-BUSY/, "SCRIPT KILL does not end a function");
      await blocked;
      await harnessCan(redis);
      assert.match((await guard.stop())!, /FUNCTION KILL/);
    });
  },
);

Deno.test(
  {
    name: "redis guard: watching, it ends a block by itself; a frozen Redis is no finding",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      // Frozen (SIGSTOP, as the freeze fault does): no answer at all, nobody's script.
      const frozen = RedisGuard.manual({ url: redis.harness, history, probeTimeoutMs: 500 });
      Deno.kill(redis.pid(), "SIGSTOP");
      try {
        assert.equal(await frozen.check(), undefined);
      } finally {
        Deno.kill(redis.pid(), "SIGCONT");
      }
      assert.equal(await frozen.stop(), undefined);

      const guard = RedisGuard.start({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
        intervalMs: 200,
      });
      const blocked = asPipeline(redis, ["EVAL", "while true do end", "0"]);
      await waitFor(() => guard.incidents().length > 0, { what: "the guard to end the script" });
      await blocked;
      await harnessCan(redis);
      assert.match((await guard.stop())!, /blocked Redis with a script/);
    });
  },
);

/** Fills `key` with `n` members from `from` as the harness (scripts of 100k: none is long). */
async function bigSet(redis: TestRedis, key: string, from: number, n: number) {
  const harness = redisAddress(redis.harness);
  for (let at = 0; at < n; at += 100_000) {
    const [reply] = await redisCommands(harness, [[
      "EVAL",
      "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do redis.call('SADD', KEYS[1], i) end",
      "1",
      key,
      String(from + at),
      String(from + Math.min(n, at + 100_000) - 1),
    ]], { timeoutMs: 60_000 });
    assert.equal(reply?.type, "_", `SADD batch: ${JSON.stringify(reply)}`);
  }
}

Deno.test(
  {
    name: "redis guard: a SUNIONSTORE of the pipeline's that blocks Redis without BUSY fails the " +
      "run (SLOWLOG); what ran before the guard does not count",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      await bigSet(redis, "a", 0, 1_000_000);
      await bigSet(redis, "b", 1_000_000, 1_000_000);
      // Slow too, and before the guard: the guard's first probe empties the SLOWLOG.
      const harness = redisAddress(redis.harness);
      await redisCommands(harness, [["SUNIONSTORE", "before", "a", "b"]], { timeoutMs: 60_000 });
      const guard = RedisGuard.manual({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
      });
      assert.equal(await guard.check(), undefined);
      assert.deepEqual(guard.slowCommands(), [], "nothing before the guard counts");
      const [stored] = await asPipeline(redis, ["SUNIONSTORE", "u", "a", "b"]);
      assert.equal(stored?.text, "2000000", JSON.stringify(stored));
      const finding = await guard.stop();
      assert.match(
        finding ?? "",
        /^the pipeline blocked Redis with slow commands: 1 command of 0\.5 s or more, the longest SUNIONSTORE for \d+\.\d s from 127\.0\.0\.1:\d+/,
      );
      const recorded = history.events.filter((e) => e.what === "redis-slow");
      assert.deepEqual(recorded.map((e) => e.type), ["fail"]);
      assert.equal((recorded[0].value as { args: number }).args, 4);
      await harnessCan(redis);
    });
  },
);

Deno.test(
  {
    name:
      "redis guard: scripts each under the BUSY threshold, back to back, fail the run (SLOWLOG)",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      const guard = RedisGuard.manual({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
      });
      assert.equal(await guard.check(), undefined);
      // Each spins 0.3 s by Redis's clock: never BUSY, and Redis serves others only between them.
      const spin = spinScript(300_000);
      for (let i = 0; i < 12; i++) {
        const [r] = await asPipeline(redis, ["EVAL", spin, "0"]);
        assert.equal(r?.text, "1", JSON.stringify(r));
      }
      assert.equal(guard.incidents().length, 0, "no BUSY");
      // 3.6 s within 10 s (a script descheduled past 0.5 s on a loaded host: that bound instead).
      assert.match(
        (await guard.stop()) ?? "",
        /^the pipeline blocked Redis with slow commands: (commands that took \d+\.\d s of 10\.0 s \(12 of them\)|\d+ commands? of 0\.5 s or more), the longest EVAL for/,
      );
      assert.equal(guard.slowCommands().filter((c) => !c.excused).length, 12);
    });
  },
);

Deno.test(
  {
    name:
      "redis guard: watching, scripts under the BUSY threshold in batches that outlast its reads still fail the run (nothing is reset unread)",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      const guard = RedisGuard.start({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
        intervalMs: 200,
      });
      await sleep(600); // its first read took the newest id: the run starts here
      // Each spins 0.8 s: never BUSY; four in a row hold Redis 3.2 s, past a probe's wait.
      const spin = spinScript(800_000);
      for (let batch = 0; batch < 3; batch++) {
        const replies = await redisCommands(
          redis.pipeline,
          Array.from({ length: 4 }, () => ["EVAL", spin, "0"]),
          { timeoutMs: 60_000 },
        );
        assert.deepEqual(replies.map((r) => r.text), ["1", "1", "1", "1"]);
      }
      await sleep(1500); // a probe after the last batch reads what is left
      assert.equal(guard.incidents().length, 0, "no BUSY");
      assert.match(
        (await guard.stop()) ?? "",
        /^the pipeline blocked Redis with slow commands: /,
      );
      assert.ok(guard.slowCommands().filter((c) => !c.excused).length >= 10);
    });
  },
);

/**
 * Sends `commands` as the pipeline's user on one connection, all at once (pipelined), and waits
 * for their `n` replies (each a short line); the time Redis took.
 */
async function pipelined(redis: TestRedis, commands: string[][]): Promise<number> {
  const { host, port, user, password } = redis.pipeline;
  const conn = await Deno.connect({ hostname: host, port });
  try {
    const all = [["AUTH", user!, password!], ...commands].map(encodeCommand);
    const bytes = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
    all.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
    const started = Date.now();
    await conn.write(bytes);
    const buf = new Uint8Array(64 * 1024);
    let lines = 0;
    while (lines < all.length) {
      const n = await conn.read(buf);
      if (n === null) throw new Error(`the connection ended after ${lines} replies`);
      for (let i = 0; i < n; i++) if (buf[i] === 10) lines++;
    }
    return Date.now() - started;
  } finally {
    conn.close();
  }
}

Deno.test(
  {
    name: "redis guard: a flood of pipelined short scripts (each under the SLOWLOG's 10 ms) that " +
      "holds Redis for seconds fails the run (Redis's own CPU, INFO cpu)",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      const sha = await loadSpin(redis, 7000);
      const guard = RedisGuard.start({
        url: redis.harness,
        history,
        restart: () => redis.restart(),
        intervalMs: 200,
      });
      await sleep(600); // its first reading
      const took = await pipelined(
        redis,
        Array.from({ length: 1000 }, () => ["EVALSHA", sha, "0"]),
      );
      assert.ok(took >= 3000, `1000 scripts of 7 ms took ${took} ms`);
      await sleep(600);
      const finding = await guard.stop();
      assert.match(
        finding ?? "",
        /the pipeline held Redis busy: the harness's PING waited \d+\.\d s of 10\.0 s/,
      );
      assert.equal(guard.incidents().length, 0, "no BUSY");
      const stalls = guard.stalls().filter((s) => !s.excused);
      assert.ok(stalls.length >= 1, JSON.stringify(guard.stalls()));
      assert.ok(history.events.some((e) => e.what === "redis-held"));
      await harnessCan(redis);
    });
  },
);

Deno.test(
  {
    name: "redis guard: an honest load (several clients, a SET NX each per alert at a high rate) " +
      "and a Redis frozen without a fault (not on its CPU) are no finding",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      const guard = RedisGuard.start({
        ...watching(redis, history),
        intervalMs: 200,
      });
      await sleep(600);
      const until = Date.now() + 3000;
      let sent = 0;
      await Promise.all(Array.from({ length: 6 }, async (_, w) => {
        while (Date.now() < until) {
          await pipelined(
            redis,
            Array.from(
              { length: 200 },
              () => ["SET", `lock:${w}:${sent++}`, "1", "NX", "PX", "60000"],
            ),
          );
        }
      }));
      assert.ok(sent > 10_000, `${sent} SET NX`);
      await sleep(500);
      assert.equal(await guard.stop(), undefined, "the honest load");
      assert.deepEqual(guard.stalls().filter((s) => !s.excused), []);
      // The host starves Redis: frozen 2 s (SIGSTOP, no fault of the scenario's) under a probe.
      const frozen = RedisGuard.manual({
        ...watching(redis, history),
      });
      assert.equal(await frozen.check(), undefined); // its first reading
      Deno.kill(redis.pid(), "SIGSTOP");
      const thaw = sleep(2000).then(() => Deno.kill(redis.pid(), "SIGCONT"));
      assert.equal(await frozen.check(), undefined);
      await thaw;
      const stalls = frozen.stalls();
      assert.equal(stalls.length, 1, "the frozen Redis stalled the probe");
      assert.match(stalls[0].excused ?? "", /^Redis was not on its CPU/, JSON.stringify(stalls));
      assert.ok((stalls[0].bytes_in ?? Infinity) < 1024 * 1024, "the harness took in little");
      assert.equal(await frozen.stop(), undefined, "the frozen Redis");
      // Frozen through the guard's stop (a wait still open, by /proc): nobody's either.
      const stopped = RedisGuard.manual({
        ...watching(redis, history),
        probeTimeoutMs: 1000,
      });
      assert.equal(await stopped.check(), undefined);
      Deno.kill(redis.pid(), "SIGSTOP");
      try {
        assert.equal(await stopped.check(), undefined);
        assert.equal(await stopped.stop(), undefined, "frozen at the end");
      } finally {
        Deno.kill(redis.pid(), "SIGCONT");
      }
      const open = stopped.stalls();
      assert.equal(open.length, 1, JSON.stringify(open));
      assert.equal(open[0].open, true);
      assert.match(open[0].excused ?? "", /^Redis was not on its CPU/, JSON.stringify(open));
    });
  },
);

Deno.test(
  {
    name: "redis guard: a flood that lets no probe through (10 connections of pipelined 7 ms " +
      "scripts) fails the run when the guard stops, the wait still open (Redis's CPU by /proc)",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      const sha = await loadSpin(redis, 7000);
      const guard = RedisGuard.start({
        ...watching(redis, history),
        intervalMs: 200,
        probeTimeoutMs: 1000,
      });
      await sleep(600); // its first reading
      // Redis runs what it read of each client in one go: 10 x 150 x 7 ms, about 10 s unanswered.
      const flood = Promise.all(
        Array.from(
          { length: 10 },
          () => pipelined(redis, Array.from({ length: 150 }, () => ["EVALSHA", sha, "0"])),
        ),
      );
      await sleep(4500);
      // The run's verdict is taken while Redis is still held (as after a rollback that waited).
      const finding = await guard.stop();
      const took = Math.max(...await flood);
      assert.ok(took >= 7000, `the flood took ${took} ms`);
      assert.match(
        finding ?? "",
        /the pipeline held Redis busy: the harness's PING waited \d+\.\d s of 10\.0 s \(once; the longest \d+\.\d s, still unanswered when the run ended,/,
        JSON.stringify(guard.stalls()),
      );
      const [open] = guard.stalls().filter((s) => s.open);
      assert.ok(open && !open.excused && open.waited_ms >= 3000, JSON.stringify(open));
      assert.ok(history.events.some((e) => e.what === "redis-held" && e.type === "fail"));
      await harnessCan(redis);
    });
  },
);

Deno.test(
  {
    name: "redis guard: the first stall after a Redis restart is judged (the new process's CPU)",
    ...slow,
  },
  async () => {
    await withRedis(async (redis, history) => {
      // The old Redis ran 4 s of scripts: the new one's counters start below its.
      const spin = spinScript(500_000);
      for (let i = 0; i < 8; i++) {
        const [r] = await redisCommands(redisAddress(redis.harness), [["EVAL", spin, "0"]], {
          timeoutMs: 60_000,
        });
        assert.equal(r?.text, "1", JSON.stringify(r));
      }
      const guard = RedisGuard.manual({
        ...watching(redis, history),
        probeTimeoutMs: 1000,
      });
      assert.equal(await guard.check(), undefined); // its reading of the old Redis
      await redis.restart(); // as the graded-services kill fault does (no fault here)
      const sha = await loadSpin(redis, 7000);
      const flood = Promise.all(
        Array.from(
          { length: 3 },
          () => pipelined(redis, Array.from({ length: 120 }, () => ["EVALSHA", sha, "0"])),
        ),
      );
      await sleep(100);
      assert.equal(await guard.check(), undefined); // unanswered: the wait starts
      await flood;
      assert.equal(await guard.check(), undefined); // answered: the stall
      const stalls = guard.stalls();
      assert.equal(stalls.length, 1, JSON.stringify(stalls));
      assert.equal(stalls[0].restarted, true);
      assert.equal(stalls[0].excused, undefined, JSON.stringify(stalls));
      assert.ok(stalls[0].waited_ms >= 1000 && stalls[0].cpu_ms > 0, JSON.stringify(stalls));
      await guard.stop();
    });
  },
);

Deno.test(
  { name: "redis guard: Redis refuses a value over 16 MB (the stacks' REDIS_BOUNDS)", ...slow },
  async () => {
    await withRedis(async (redis) => {
      const mb = (n: number) => "x".repeat(n * 1024 * 1024);
      const [ok] = await redisCommands(redis.pipeline, [["SET", "v", mb(15)]], {
        timeoutMs: 30_000,
      });
      assert.equal(ok?.text, "OK", "15 MB is allowed");
      const [big] = await redisCommands(redis.pipeline, [["SET", "big", mb(17)]], {
        timeoutMs: 30_000,
      }).catch(() => [undefined]);
      assert.notEqual(big?.text, "OK", JSON.stringify(big));
      const [exists] = await redisCommands(redisAddress(redis.harness), [["EXISTS", "big"]]);
      assert.equal(exists?.text, "0", "the 17 MB value was not stored");
    });
  },
);

Deno.test(
  {
    name:
      "redis guard: a client that sends GETs of a 15 MB value and never reads is closed past 64 MB of replies (REDIS_BOUNDS)",
    ...slow,
  },
  async () => {
    await withRedis(async (redis) => {
      const [ok] = await redisCommands(
        redis.pipeline,
        [["SET", "big", "x".repeat(15 * 1024 * 1024)]],
        { timeoutMs: 30_000 },
      );
      assert.equal(ok?.text, "OK");
      const rss = async () =>
        Number(
          (await Deno.readTextFile(`/proc/${redis.pid()}/status`)).match(/VmRSS:\s+(\d+)/)![1],
        );
      const before = await rss();
      // The pipeline's user logs in, then asks for the value 40 times (600 MB of replies) and
      // never reads a byte.
      const { port, user, password } = redis.pipeline;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const commands = [["AUTH", user!, password!], ...Array(40).fill(["GET", "big"])];
        await conn.write(new Uint8Array(commands.flatMap((c) => [...encodeCommand(c)])));
        await sleep(2000);
        const grown = (await rss()) - before;
        assert.ok(grown < 200 * 1024, `Redis grew by ${grown} kB holding unread replies`);
        const log = await redisCommands(redisAddress(redis.harness), [["CLIENT", "LIST"]]);
        assert.doesNotMatch(log[0]?.text ?? "", /omem=[1-9]\d{8}/, "no client holds 100 MB+");
      } finally {
        try {
          conn.close();
        } catch { /* closed by Redis */ }
      }
      const [pong] = await redisCommands(redisAddress(redis.harness), [["PING"]]);
      assert.equal(pong?.text, "PONG", "Redis itself is fine");
    });
  },
);
