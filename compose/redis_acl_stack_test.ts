/**
 * The local stack's Redis users against its real Redis: through the pipeline's
 * URL (the contract's REDIS_URL) what the detector does works (SET NX PX,
 * EVAL of a script that does it, HSET, HLEN, HGETALL, HDEL) and what would
 * stall or wipe the harness's Redis answers NOPERM (CLIENT PAUSE, SHUTDOWN,
 * FLUSHALL, CONFIG SET); without the harness's password nothing is allowed.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { slow, testStack } from "./testing.ts";

const SCRIPT = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[1], 'x')
  return 1
end
return 0`;

Deno.test(
  { name: "redis: the pipeline's user may not pause, stop or wipe Redis", ...slow },
  async () => {
    const { stack, release } = await testStack();
    const options = { lazyConnect: true, maxRetriesPerRequest: 0, commandTimeout: 3000 };
    const url = stack.redisPipelineUrl;
    assert.ok(url, "the local stack gives the pipeline a Redis user of its own");
    assert.notEqual(url, stack.endpoints.redis.url);
    const pipeline = new Redis(url, options);
    const harness = new Redis(stack.endpoints.redis.url, options);
    const anonymous = new Redis(`redis://127.0.0.1:${stack.plan.redis}`, options);
    for (const r of [pipeline, harness, anonymous]) r.on("error", () => {});
    try {
      const key = `acl-test:${crypto.randomUUID()}`;
      assert.equal(await pipeline.set(key, "1", "PX", 5000, "NX"), "OK");
      assert.equal(await pipeline.set(key, "1", "PX", 5000, "NX"), null);
      assert.equal(await pipeline.eval(SCRIPT, 2, `${key}:lock`, `${key}:outbox`, "a", 5000), 1);
      assert.equal(await pipeline.hset(`${key}:h`, "f", "v"), 1);
      assert.equal(await pipeline.hlen(`${key}:outbox`), 1);
      assert.deepEqual(await pipeline.hgetall(`${key}:h`), { f: "v" });
      assert.equal(await pipeline.hdel(`${key}:h`, "f"), 1);
      for (
        const command of [
          ["CLIENT", "PAUSE", "600000", "ALL"],
          ["SHUTDOWN", "NOSAVE"],
          ["FLUSHALL"],
          ["CONFIG", "SET", "appendonly", "no"],
          ["ACL", "SETUSER", "pipeline", "+@all"],
        ]
      ) {
        await assert.rejects(
          pipeline.call(command[0], ...command.slice(1)),
          /NOPERM/,
          command.join(" "),
        );
      }
      assert.equal(await harness.ping(), "PONG");
      assert.equal(await harness.get(key), "1");
      await assert.rejects(anonymous.get(key), /NOAUTH/);
      await harness.del(key, `${key}:lock`, `${key}:outbox`);
    } finally {
      for (const r of [pipeline, harness, anonymous]) r.disconnect();
      await release();
    }
  },
);
