import assert from "node:assert/strict";
import * as Minio from "minio";
import { minioClientOptions } from "../pipeline/endpoints.ts";
import {
  adminCall,
  bucketOnlyPolicy,
  createBucketUser,
  MinioAdminError,
  PIPELINE_S3_ACTIONS,
} from "./minio_users.ts";
import { objectStore } from "../pipeline/store.ts";
import { serveS3Proxy } from "./s3_proxy_server.ts";
import { serveStore } from "./store_server.ts";
import { slow } from "./testing.ts";

Deno.test("bucketOnlyPolicy() allows its bucket and its objects, nothing else", () => {
  assert.deepEqual(bucketOnlyPolicy("telemetry"), {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Action: [...PIPELINE_S3_ACTIONS],
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
    await t.step("tags and versioning reads, as ordinary clients make them, work", async () => {
      await user.putObject("telemetry", "tagged", "x");
      const before = await user.statObject("telemetry", "tagged");
      await new Promise((r) => setTimeout(r, 1100));
      await user.setObjectTagging("telemetry", "tagged", { team: "a" });
      const tags = await user.getObjectTagging("telemetry", "tagged");
      assert.deepEqual(tags.map((t) => [t.Key, t.Value]), [["team", "a"]]);
      await user.getBucketVersioning("telemetry");
      // A tag changes nothing the harness reads of the object: its date, its ETag.
      const after = await root.statObject("telemetry", "tagged");
      assert.equal(after.lastModified.getTime(), before.lastModified.getTime());
      assert.equal(after.etag, before.etag);
      await user.removeObject("telemetry", "tagged");
    });
    await t.step("its own bucket's settings: refused, the bucket kept", async () => {
      const publicPolicy = JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
          Effect: "Allow",
          Principal: { AWS: ["*"] },
          Action: ["s3:PutObject"],
          Resource: ["arn:aws:s3:::telemetry/*"],
        }],
      });
      assert.equal(await s3Error(user.setBucketPolicy("telemetry", publicPolicy)), "AccessDenied");
      assert.equal(
        await s3Error(user.setBucketVersioning("telemetry", { Status: "Enabled" })),
        "AccessDenied",
      );
      assert.equal(
        await s3Error(user.setBucketLifecycle("telemetry", {
          Rule: [{
            ID: "gone",
            Status: "Enabled",
            Filter: { Prefix: "" },
            Expiration: { Days: 1 },
          }],
        })),
        "AccessDenied",
      );
      assert.equal(await s3Error(user.removeBucket("telemetry")), "AccessDenied");
      assert.equal(await root.bucketExists("telemetry"), true);
      assert.doesNotMatch(JSON.stringify(await root.getBucketVersioning("telemetry")), /Enabled/);
    });
    await t.step(
      "MinIO's own headers set an object's dates: the S3 proxy refuses them",
      async () => {
        const backdate = { "X-Minio-Source-Mtime": "2020-01-01T00:00:00Z" };
        const body = new TextEncoder().encode("x");
        const direct = objectStore({ ...server.s3, ...keys });
        await direct.putBytes("direct", body, "text/plain", backdate);
        const listed = await direct.list("direct");
        // MinIO honours it from a bucket user: why the proxy, in every pipeline's path, must not.
        assert.equal(
          new Date(listed[0].last_modified_ms!).toISOString(),
          "2020-01-01T00:00:00.000Z",
        );
        const upstream = Number(new URL(server.s3.endpoint).port);
        const proxy = serveS3Proxy({ listen: 0, control: 0, upstream });
        try {
          const proxied = objectStore({
            ...server.s3,
            ...keys,
            endpoint: `http://127.0.0.1:${proxy.port}`,
          });
          await proxied.putBytes("plain", body, "text/plain");
          await assert.rejects(proxied.putBytes("backdated", body, "text/plain", backdate));
          const names = (await direct.list("")).map((o) => o.name).sort();
          assert.deepEqual(names, ["direct", "plain"]);
        } finally {
          await proxy.close();
        }
      },
    );
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
