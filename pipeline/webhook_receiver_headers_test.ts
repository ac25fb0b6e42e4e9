/**
 * The receiver against a sender that pushes huge headers: header values are
 * kept to MAX_HEADER_CHARS (distinct values stay distinct), the bytes sent
 * count against the kept cap, so the log stays small and the cap is hit.
 */

import assert from "node:assert/strict";
import { sign, SIGNATURE_HEADER } from "./alert.ts";
import { keptHeader, MAX_HEADER_CHARS, WebhookReceiver } from "./webhook_receiver.ts";

Deno.test("keptHeader: short values as they are, long ones bounded and still distinct", async () => {
  assert.equal(await keptHeader(null), null);
  assert.equal(await keptHeader("abc"), "abc");
  const a = await keptHeader("k".repeat(30_000) + "a");
  const b = await keptHeader("k".repeat(30_000) + "b");
  assert.ok(a!.length <= MAX_HEADER_CHARS && b!.length <= MAX_HEADER_CHARS);
  assert.notEqual(a, b);
  assert.match(a!, /30001 chars, sha256 [0-9a-f]{64}/);
});

Deno.test("WebhookReceiver: 2,000 deliveries with 30 KB headers reach over_cap, the log stays small", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rx-headers-" });
  const logFile = `${dir}/deliveries.jsonl`;
  const secret = "s3cret";
  const rx = new WebhookReceiver({ secret, logFile });
  try {
    const pad = "x".repeat(30 * 1024);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      const body = JSON.stringify({ alert_id: `a${i}` });
      const res = await fetch(rx.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": `${pad}${i}`,
          [SIGNATURE_HEADER]: sign(body, secret) + pad,
        },
        body,
      });
      await res.body?.cancel();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
    assert.ok((statuses.get(429) ?? 0) > 0, `statuses ${JSON.stringify([...statuses])}`);
    assert.ok(rx.refused().over_cap > 0);
    const kept = rx.deliveries();
    assert.ok(kept.some((d) => d.refused === "over_cap"));
    for (const d of kept) {
      assert.ok((d.idempotency_key?.length ?? 0) <= MAX_HEADER_CHARS);
      assert.ok((d.signature?.length ?? 0) <= MAX_HEADER_CHARS);
    }
    const size = (await Deno.stat(logFile)).size;
    assert.ok(size < 2 * 2 ** 20, `log of ${size} bytes`);
  } finally {
    await rx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
