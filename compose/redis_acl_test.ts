import assert from "node:assert/strict";
import {
  makeRedisUsers,
  PIPELINE_REDIS_RULES,
  redisAclFile,
  redisUrl,
  writeRedisAclFile,
} from "./redis_acl.ts";

Deno.test("redisAclFile: hashed passwords, the pipeline without admin or dangerous commands", async () => {
  const users = makeRedisUsers();
  assert.notEqual(users.harness, users.pipeline);
  const text = await redisAclFile(users);
  assert.ok(!text.includes(users.harness) && !text.includes(users.pipeline));
  const [harness, pipeline] = text.trim().split("\n");
  assert.match(harness, /^user default on #[0-9a-f]{64} ~\* &\* \+@all$/);
  assert.match(pipeline, /^user pipeline on #[0-9a-f]{64} /);
  assert.ok(pipeline.endsWith(PIPELINE_REDIS_RULES));
  assert.ok(
    PIPELINE_REDIS_RULES.includes("-@admin") && PIPELINE_REDIS_RULES.includes("-@dangerous"),
  );
});

Deno.test("writeRedisAclFile: mode 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/users.acl`;
    await Deno.writeTextFile(file, "old", { mode: 0o644 });
    await writeRedisAclFile(file, makeRedisUsers());
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("redisUrl: the default user's URL has no user name", () => {
  assert.equal(redisUrl("127.0.0.1", 1, "default", "ab"), "redis://:ab@127.0.0.1:1");
  assert.equal(redisUrl("127.0.0.1", 1, "pipeline", "ab"), "redis://pipeline:ab@127.0.0.1:1");
});
