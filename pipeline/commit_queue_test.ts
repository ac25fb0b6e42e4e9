import assert from "node:assert/strict";
import { CommitQueue } from "./commit_queue.ts";

function queue(generation: () => number, refuse = new Set<number>()) {
  const sent: Array<[number, number]> = [];
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const q = new CommitQueue({
    commit: async (partition, offset) => {
      await gate;
      sent.push([partition, offset]);
      if (refuse.has(offset)) throw new Error("REBALANCE_IN_PROGRESS");
    },
    generation,
    onStale: () => {},
    onRefused: () => {},
    onCommitted: () => {},
  });
  const hold = () => {
    gate = new Promise((r) => (release = r));
  };
  return { q, sent, hold, release: () => release() };
}

Deno.test("commit queue: committed() waits for the commit in flight and names what Kafka took", async () => {
  const gen = 1;
  const { q, sent, hold, release } = queue(() => gen, new Set([900]));
  assert.equal(await q.committed(0), undefined);
  hold();
  q.request(0, 500, 1); // in flight while a new generation looks
  let seen: number | undefined = -1;
  const looked = q.committed(0).then((o) => (seen = o));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(seen, -1, "not before the commit in flight ended");
  release();
  await looked;
  assert.equal(seen, 500);
  q.request(0, 900, 1); // refused: not counted
  assert.equal(await q.committed(0), 500);
  q.request(1, 40, 1);
  assert.equal(await q.committed(1), 40);
  assert.deepEqual(sent, [[0, 500], [0, 900], [1, 40]]);
});

Deno.test("commit queue: a request of an older generation is dropped, not committed", async () => {
  let gen = 1;
  const { q, sent } = queue(() => gen);
  gen = 2;
  q.request(0, 700, 1);
  assert.equal(await q.committed(0), undefined);
  assert.deepEqual(sent, []);
});
