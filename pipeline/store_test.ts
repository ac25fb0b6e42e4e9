/**
 * The object store against the shared stack's real MinIO: a bucket that does
 * not exist (MinIO after a power loss that undid its creation) lists as empty,
 * so the store check judges every event of it missing instead of the run
 * failing unknown; any other error still throws.
 */

import assert from "node:assert/strict";
import { slow, testStack } from "../compose/testing.ts";
import { objectStore } from "./store.ts";

Deno.test({ name: "store: a bucket that does not exist lists as empty", ...slow }, async () => {
  const { stack, release } = await testStack();
  try {
    const gone = objectStore({ ...stack.endpoints.s3, bucket: `gone-${Date.now()}` });
    assert.deepEqual(await gone.list("events/"), []);
    const wrongKey = objectStore({ ...stack.endpoints.s3, secretKey: "not-the-key" });
    await assert.rejects(() => wrongKey.list("events/"));
  } finally {
    await release();
  }
});
