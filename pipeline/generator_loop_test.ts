import assert from "node:assert/strict";
import { byPartition, MAX_GROUP_BYTES } from "./generator_loop.ts";
import type { ProduceMessage } from "./producer_client.ts";

function batch(n: number, partitions: number, valueBytes: number) {
  const messages: ProduceMessage[] = [];
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    messages.push({
      topic: "t",
      key: `10.0.0.${i % 250}`,
      value: "x".repeat(valueBytes),
      partition: i % partitions,
    });
    seqs.push(1000 + i);
  }
  return { messages, seqs };
}

Deno.test("byPartition: one group per partition, every seq once and ascending", () => {
  const { messages, seqs } = batch(6000, 6, 400);
  const groups = byPartition(messages, seqs);
  assert.equal(groups.length, 6);
  const all = groups.flatMap((g) => g.seqs).sort((a, b) => a - b);
  assert.deepEqual(all, seqs);
  for (const g of groups) {
    assert.ok(g.messages.every((m) => m.partition === g.messages[0].partition));
    assert.ok(g.seqs.every((s, i) => i === 0 || s > g.seqs[i - 1]));
    assert.equal(g.messages.length, g.seqs.length);
  }
});

Deno.test("byPartition keeps each produce call under the byte cap (the broker's 1 MiB)", () => {
  // 30,000 events of ~410 bytes on one partition: 12 MB, which Kafka would refuse whole.
  const { messages, seqs } = batch(30_000, 1, 400);
  const groups = byPartition(messages, seqs);
  assert.ok(groups.length >= 14 && groups.length <= 15, `${groups.length} groups`);
  for (const g of groups) {
    const bytes = g.messages.reduce((s, m) => s + m.key.length + m.value.length, 0);
    assert.ok(bytes <= MAX_GROUP_BYTES, `${bytes} bytes in one call`);
  }
  assert.deepEqual(groups.flatMap((g) => g.seqs), seqs);
  // About equal parts: no small remainder call.
  const sizes = groups.map((g) => g.messages.length);
  assert.ok(Math.min(...sizes) >= 0.9 * Math.max(...sizes), `sizes ${sizes}`);
  // A share under the cap stays one call.
  const small = batch(8000, 6, 440);
  assert.equal(byPartition(small.messages, small.seqs).length, 6);
  // A message larger than the cap still goes, alone.
  const big = byPartition([{
    topic: "t",
    key: "k",
    value: "y".repeat(MAX_GROUP_BYTES * 2),
    partition: 0,
  }], [
    7,
  ]);
  assert.deepEqual(big.map((g) => g.seqs), [[7]]);
});
