import assert from "node:assert/strict";
import { z } from "zod";
import { listeners, millis, NO_PARAMS, paramDocs, paramLine, probability } from "./params.ts";

Deno.test("paramDocs reads each param's bounds, required-ness, default and text from its schema", () => {
  const schema = z.strictObject({
    delay_ms: millis(5000).describe("how long"),
    share: probability.default(0.5).describe("how much"),
    via: listeners.optional(),
    mode: z.enum(["a", "b"]).default("a"),
    rate: z.number().min(0.5),
  });
  const docs = paramDocs(schema);
  assert.deepEqual(docs.map(paramLine), [
    "delay_ms (int 0..5000, required)",
    "share (0..1, default 0.5)",
    "via ([client/internal/controller], ≥1, optional)",
    'mode (a/b, default "a")',
    "rate (0.5..…, required)",
  ]);
  assert.equal(docs[0].description, "how long");
  assert.equal(docs[2].description, undefined);
  assert.deepEqual(paramDocs(NO_PARAMS), []);
});

Deno.test("the shared pieces hold their bounds", () => {
  assert.ok(!millis(10).safeParse(11).success);
  assert.ok(!millis(10).safeParse(1.5).success);
  assert.ok(!probability.safeParse(1.01).success);
  assert.ok(!listeners.safeParse([]).success);
  assert.ok(!listeners.safeParse(["replication"]).success);
  assert.ok(!NO_PARAMS.safeParse({ x: 1 }).success);
});
