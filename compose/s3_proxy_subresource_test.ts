/**
 * The S3 proxy's store writes against sub-resource requests: a PUT or POST of
 * a batch key's tags, retention, legal hold, ACL (what a pipeline could send
 * to draw an S3 fault onto requests that store nothing) is not a store write;
 * an upload, a multipart part, its start and completion, a presigned PUT and
 * an SDK's `?x-id=PutObject` still are.
 */

import assert from "node:assert/strict";
import { isStoreWrite, OBJECT_SUB_RESOURCES } from "./s3_proxy.ts";

const KEY = "events/t/partition=3/part-3-00000000000000000100-00000000000000000199.ndjson.gz";
const store = { bucket: "b", topic: "t" };
const req = (method: string, query: string) => ({ method, path: `/b/${KEY}${query}` });

Deno.test("isStoreWrite: a PUT or POST of a sub-resource is not a store write", () => {
  for (const name of OBJECT_SUB_RESOURCES) {
    for (const q of [`?${name}`, `?${name}=`, `?${name}=x`, `?x-id=X&${name}`]) {
      assert.equal(isStoreWrite(req("PUT", q), store), false, `PUT ${q}`);
      assert.equal(isStoreWrite(req("POST", q), store), false, `POST ${q}`);
    }
  }
  assert.equal(isStoreWrite(req("PUT", "?%74agging"), store), false, "encoded name");
  assert.equal(isStoreWrite(req("POST", ""), store), false, "a POST that is no multipart step");
  assert.equal(isStoreWrite(req("POST", "?delete"), store), false);
});

Deno.test("isStoreWrite: uploads, parts, multipart steps and presigned PUTs still are", () => {
  for (
    const q of [
      "",
      "?x-id=PutObject",
      "?partNumber=2&uploadId=abc",
      "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Signature=f",
    ]
  ) {
    assert.equal(isStoreWrite(req("PUT", q), store), true, `PUT ${q}`);
  }
  assert.equal(isStoreWrite(req("POST", "?uploads"), store), true);
  assert.equal(isStoreWrite(req("POST", "?uploads="), store), true);
  assert.equal(isStoreWrite(req("POST", "?uploadId=abc"), store), true);
  // An unknown parameter does not hide an upload.
  assert.equal(isStoreWrite(req("PUT", "?foo=bar"), store), true);
  assert.equal(isStoreWrite(req("PUT", "?TAGGING"), store), true, "names are case-sensitive");
});
