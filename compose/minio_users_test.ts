import assert from "node:assert/strict";
import * as Minio from "minio";
import { minioClientOptions } from "../pipeline/endpoints.ts";
import { adminCall, bucketOnlyPolicy, createBucketUser, MinioAdminError } from "./minio_users.ts";
import { serveStore } from "./store_server.ts";
import { slow } from "./testing.ts";

Deno.test("bucketOnlyPolicy() allows its bucket and its objects, nothing else", () => {
  assert.deepEqual(bucketOnlyPolicy("telemetry"), {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Action: ["s3:*"],
      Resource: ["arn:aws:s3:::telemetry", "arn:aws:s3:::telemetry/*"],
    }],
  });
});

/** The S3 error code of what `p` rejects with (e.g. AccessDenied), or "resolved". */
async function s3Error(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

Deno.test({
  name: "createBucketUser() makes a user that can use its bucket and nothing else",
  ...slow,
}, async (t) => {
  const data = await Deno.makeTempDir({ prefix: "chaos-minio-users-" });
  const server = await serveStore(data, { bucket: "telemetry" });
  try {
    const root = new Minio.Client(minioClientOptions(server.s3));
    await root.makeBucket("telemetry");
    await root.makeBucket("harness");
    await root.putObject("harness", "ledger.json", "secret ledger");
    const keys = await createBucketUser(server.s3);
    assert.match(keys.accessKey, /^pipeline[0-9a-f]{12}$/);
    assert.notEqual(keys.accessKey, server.s3.accessKey);
    const user = new Minio.Client(minioClientOptions({ ...server.s3, ...keys }));

    await t.step("put, get, list and delete in its bucket work", async () => {
      await user.putObject("telemetry", "a/b.jsonl", "hello");
      const got = await user.getObject("telemetry", "a/b.jsonl");
      assert.equal(Buffer.concat(await Array.fromAsync(got)).toString(), "hello");
      const listed = await Array.fromAsync(user.listObjectsV2("telemetry", "", true));
      assert.deepEqual(listed.map((o) => o.name), ["a/b.jsonl"]);
      assert.equal(await user.bucketExists("telemetry"), true);
      await user.removeObject("telemetry", "a/b.jsonl");
      assert.equal((await Array.fromAsync(user.listObjectsV2("telemetry", "", true))).length, 0);
    });
    await t.step("another bucket: not listed, not readable, not writable", async () => {
      const buckets = await user.listBuckets();
      assert.deepEqual(buckets.map((b) => b.name), ["telemetry"]);
      assert.equal(await s3Error(user.getObject("harness", "ledger.json")), "AccessDenied");
      assert.equal(
        await s3Error(Array.fromAsync(user.listObjectsV2("harness", "", true))),
        "AccessDenied",
      );
      assert.equal(await s3Error(user.putObject("harness", "x", "y")), "AccessDenied");
      assert.equal(await s3Error(user.removeObject("harness", "ledger.json")), "AccessDenied");
      assert.equal(await s3Error(user.makeBucket("other")), "AccessDenied");
      assert.equal(await s3Error(user.removeBucket("harness")), "AccessDenied");
    });
    await t.step("every admin call is refused with 403", async () => {
      const calls = [
        { method: "GET", path: "list-users" },
        { method: "GET", path: "info" },
        {
          method: "PUT",
          path: "set-user-or-group-policy",
          query: { policyName: "readwrite", userOrGroup: keys.accessKey, isGroup: "false" },
        },
        { method: "GET", path: "list-canned-policies" },
      ] as const;
      for (const call of calls) {
        await assert.rejects(
          adminCall(server.s3.endpoint, keys, call),
          (e: unknown) => e instanceof MinioAdminError && e.status === 403,
          call.path,
        );
      }
      // The root keys are still the root's: the same call answers them.
      assert.match(await adminCall(server.s3.endpoint, server.s3, calls[0]), /\S/);
    });
    await t.step("a wrong root secret makes no user: MinIO's refusal is thrown", async () => {
      await assert.rejects(
        createBucketUser({ ...server.s3, secretKey: "not-the-root-secret" }),
        (e: unknown) => e instanceof MinioAdminError && e.status === 403,
      );
    });
  } finally {
    await server.stop();
    await Deno.remove(data, { recursive: true });
  }
});
