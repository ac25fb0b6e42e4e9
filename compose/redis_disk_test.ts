/**
 * Redis's disk (redis_disk.ts): its size from the environment, the finding from its evidence
 * (pure), and, for real, a redis-server run as the local stack runs it with its folder on a
 * 64 MiB Redis disk: an honest small load leaves no finding; big values overwritten in a loop
 * fill the disk, Redis exits on its AOF write error, and the finding says so, also once Redis
 * was started again on its data (as the rollback does); the watchdog's script unmounts it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { waitFor } from "../lib/wait.ts";
import { isMounted, UNMOUNT_SCRIPT, unmountUnder } from "./disk.ts";
import {
  DEFAULT_REDIS_DISK_MB,
  diskErrorLine,
  mountRedisDisk,
  noteRedisDisk,
  persistenceErrors,
  REDIS_IMAGE,
  redisDiskGaps,
  redisDiskMbFromEnv,
  redisFinding,
  redisFull,
} from "./redis_disk.ts";
import { redisAddress, redisCommands } from "./redis_wire.ts";
import { REDIS_BOUNDS, REDIS_DURABILITY, REDIS_MAXMEMORY_MB, REDIS_MEMORY } from "./stack.ts";
import { slow } from "./testing.ts";

const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });

Deno.test("redisDiskMbFromEnv() takes MiB or 0, 3 x maxmemory by default, refuses others", () => {
  assert.equal(redisDiskMbFromEnv(env({})), DEFAULT_REDIS_DISK_MB);
  assert.equal(DEFAULT_REDIS_DISK_MB, 3 * REDIS_MAXMEMORY_MB);
  assert.equal(redisDiskMbFromEnv(env({ CHAOS_REDIS_DISK_MB: " 512 " })), 512);
  assert.equal(redisDiskMbFromEnv(env({ CHAOS_REDIS_DISK_MB: "0" })), 0);
  for (const bad of ["10", "3G", "-1", "1.5", "lots"]) {
    assert.throws(
      () => redisDiskMbFromEnv(env({ CHAOS_REDIS_DISK_MB: bad })),
      /CHAOS_REDIS_DISK_MB: .* is neither 0/,
      bad,
    );
  }
});

Deno.test("no Redis disk (0, or no root) is a gap of the grade's", () => {
  assert.deepEqual(mountRedisDisk("/nonexistent/redis", 0), { problem: "CHAOS_REDIS_DISK_MB=0" });
  noteRedisDisk({ mb: 3072 });
  assert.deepEqual(redisDiskGaps(), []);
  noteRedisDisk({ problem: "CHAOS_REDIS_DISK_MB=0" });
  noteRedisDisk({ problem: "CHAOS_REDIS_DISK_MB=0" });
  assert.deepEqual(redisDiskGaps(), ["Redis's disk not bounded: CHAOS_REDIS_DISK_MB=0"]);
});

Deno.test("persistenceErrors() and diskErrorLine() read INFO and Redis's log", () => {
  const info = "# Persistence\r\nloading:0\r\naof_enabled:1\r\naof_last_bgrewrite_status:err\r\n" +
    "aof_last_write_status:ok\r\n";
  assert.deepEqual(persistenceErrors(info), ["aof_last_bgrewrite_status:err"]);
  assert.deepEqual(persistenceErrors(info.replace(":err", ":ok")), []);
  const log = [
    "1:M 06 Dec 2026 15:40:15.496 * Ready to accept connections",
    "1:M 06 Dec 2026 15:40:16.701 # Short write while writing to the AOF file: (nwritten=1, " +
    "expected=4194337)",
    "1:M 06 Dec 2026 15:40:16.701 # Can't recover from AOF write error when the AOF fsync " +
    "policy is 'always'. Exiting...",
  ].join("\n");
  assert.match(diskErrorLine(log) ?? "", /Short write while writing to the AOF file/);
  assert.equal(diskErrorLine(log.split("\n")[0]), undefined);
  // Loading a truncated AOF after the crash is no new disk error.
  assert.equal(diskErrorLine("# !!! Warning: short read while loading the AOF file"), undefined);
});

Deno.test("redisFinding() fails a full disk or a failed write, never a healthy one", async (t) => {
  const roomy = { sizeMb: 3000, usedMb: 10, freeMb: 2990, inodesFree: 40000 };
  await t.step("a healthy disk: no finding", () => {
    assert.equal(redisFinding({ space: roomy, errors: [] }), undefined);
    assert.equal(redisFinding({ space: roomy, errors: undefined }), undefined);
  });
  await t.step("a small disk with room for the largest value (16 MB) is not full", () => {
    const small = { sizeMb: 62, usedMb: 42, freeMb: 20, inodesFree: 900 };
    assert.equal(redisFinding({ space: small, errors: [] }), undefined);
    assert.match(redisFinding({ space: { ...small, freeMb: 16 }, errors: [] }) ?? "", /full/);
  });
  await t.step("a failed rewrite alone (a fork refused for memory) is no proof", () => {
    assert.equal(
      redisFinding({ space: roomy, errors: ["aof_last_bgrewrite_status:err"] }),
      undefined,
    );
  });
  await t.step("a full disk", () => {
    const full = { sizeMb: 3000, usedMb: 2990, freeMb: 10, inodesFree: 40000 };
    assert.match(
      redisFinding({ space: full, errors: [] }) ?? "",
      /^Redis's disk full: the pipeline filled it \(the disk 3000 MiB \(CHAOS_REDIS_DISK_MB\), 2990 MiB used, 10 MiB free; INFO persistence: no write error\)/,
    );
  });
  await t.step("a failed write, the disk freed since (a failed rewrite's files removed)", () => {
    assert.match(
      redisFinding({ space: roomy, errors: ["aof_last_write_status:err"] }) ?? "",
      /Redis's disk full: .*aof_last_write_status:err/,
    );
    assert.match(
      redisFinding({ space: roomy, errors: undefined, logLine: "No space left on device" }) ?? "",
      /Redis did not answer INFO; its log: "No space left on device"/,
    );
  });
});

const why = Deno.build.os !== "linux" || Deno.uid() !== 0
  ? "needs root on Linux"
  : new Deno.Command("sh", { args: ["-c", "command -v mkfs.ext4 losetup redis-server"] })
      .outputSync().success
  ? null
  : "needs mkfs.ext4, losetup and redis-server";

Deno.test({
  ...slow,
  name: "a redis-server on a 64 MiB Redis disk: an honest load is not blamed; big overwrites " +
    "fill it, Redis exits, and Redis's disk is said full, also after its restart",
  ignore: slow.ignore || why !== null,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "chaos-redis-disk-test-" });
    const dir = join(dataDir, "redis");
    await Deno.mkdir(dir);
    await Deno.mkdir(join(dataDir, "logs"));
    const port = Number(Deno.env.get("CHAOS_TEST_BASE_PORT") ?? 25200) + 12;
    const url = `redis://127.0.0.1:${port}`;
    const address = redisAddress(url);
    let server: Deno.ChildProcess | undefined;
    const start = async () => {
      server = new Deno.Command(Deno.env.get("CHAOS_REDIS_BIN") ?? "redis-server", {
        args: [
          ...REDIS_MEMORY,
          ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dir],
          ...REDIS_DURABILITY,
          ...REDIS_BOUNDS,
          ...["--daemonize", "no", "--logfile", join(dataDir, "logs", "redis.log")],
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitFor(async () => (await redisCommands(address, [["PING"]]))[0]?.text === "PONG", {
        what: "the test's redis-server to answer",
        timeoutMs: 30_000,
      });
    };
    try {
      assert.deepEqual(mountRedisDisk(dir, 64), { mb: 64 });
      assert.ok(isMounted(dir));
      await start();
      // The harness's kind of use: small keys.
      const small = Array.from({ length: 200 }, (_, i) => ["SET", `dedupe:${i}`, "x".repeat(100)]);
      const replies = await redisCommands(address, small, { timeoutMs: 10_000 });
      assert.ok(replies.every((r) => r.text === "OK"), JSON.stringify(replies.slice(0, 3)));
      assert.equal(await redisFull(dataDir, url), undefined, "an honest load fills nothing");

      // A pipeline's: 3 keys of 4 MB overwritten in a loop, until Redis gives up.
      const big = "v".repeat(4 * 1024 * 1024);
      let refused = 0;
      for (let i = 0; i < 40 && refused === 0; i++) {
        const [reply] = await redisCommands(address, [["SET", `k${i % 3}`, big]], {
          timeoutMs: 10_000,
        }).catch(() => []);
        if (reply?.text !== "OK") refused = i;
      }
      assert.ok(refused > 0, "Redis took 160 MB on a 64 MiB disk");
      const status = await server!.status; // it exits on an AOF write error (appendfsync always)
      assert.equal(status.success, false);
      server = undefined;
      const dead = await redisFull(dataDir, url);
      assert.match(dead ?? "", /^Redis's disk full: the pipeline filled it \(the disk \d+ MiB/);
      assert.match(dead ?? "", /Redis did not answer INFO; its log: ".*Short write/);
      console.log(`redis disk: ${dead}`);

      // Started again on its data (the rollback): it answers, and the finding stands.
      await start();
      assert.match(await redisFull(dataDir, url) ?? "", /^Redis's disk full: the pipeline/);

      server!.kill("SIGKILL");
      await server!.status;
      server = undefined;
      // As the watchdog does when the harness died: unmounted, the image removed.
      const script = new Deno.Command("sh", {
        args: ["-c", `dir=$1; ${UNMOUNT_SCRIPT}`, "sh", dataDir],
      }).outputSync();
      assert.ok(script.success, new TextDecoder().decode(script.stderr));
      assert.equal(isMounted(dir), false);
      await assert.rejects(Deno.stat(join(dir, REDIS_IMAGE)), Deno.errors.NotFound);
      const loops = new Deno.Command("losetup", { args: ["-a"], stdout: "piped" }).outputSync();
      assert.doesNotMatch(new TextDecoder().decode(loops.stdout), new RegExp(dataDir));
      assert.equal(await redisFull(dataDir, url), undefined, "no Redis disk: nothing to say");
    } finally {
      try {
        server?.kill("SIGKILL");
        await server?.status;
      } catch { /* gone */ }
      await unmountUnder(dataDir);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
