import assert from "node:assert/strict";
import { CommitQueue } from "./commit_queue.ts";

function queue(generation: () => number, refuse = new Set<number>()) {
  const sent: Array<[number, number]> = [];
  const gaps: Array<[number, number, number | undefined]> = [];
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
    onGap: (partition, first, stored) => gaps.push([partition, first, stored]),
  });
  const hold = () => {
    gate = new Promise((r) => (release = r));
  };
  return { q, sent, gaps, hold, release: () => release() };
}

Deno.test("commit queue: committed() waits for the commit in flight and names what Kafka took", async () => {
  const gen = 1;
  const { q, sent, hold, release } = queue(() => gen, new Set([900]));
  assert.equal(await q.committed(0), undefined);
  q.start(0, 0, 1);
  q.start(1, 0, 1);
  hold();
  q.request(0, 0, 500, 1); // in flight while a new generation looks
  let seen: number | undefined = -1;
  const looked = q.committed(0).then((o) => (seen = o));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(seen, -1, "not before the commit in flight ended");
  release();
  await looked;
  assert.equal(seen, 500);
  q.request(0, 500, 900, 1); // refused: not counted
  assert.equal(await q.committed(0), 500);
  q.request(1, 0, 40, 1);
  assert.equal(await q.committed(1), 40);
  assert.deepEqual(sent, [[0, 500], [0, 900], [1, 40]]);
});

Deno.test("commit queue: a request of an older generation is dropped, not committed", async () => {
  let gen = 1;
  const { q, sent } = queue(() => gen);
  q.start(0, 0, 1);
  gen = 2;
  q.request(0, 0, 700, 1);
  assert.equal(await q.committed(0), undefined);
  assert.deepEqual(sent, []);
});

Deno.test("commit queue: commits only the contiguous stored prefix", async () => {
  const gen = 3;
  const { q, sent, gaps } = queue(() => gen);
  q.request(0, 100, 200, 3); // not started in this generation: nothing known below 100
  q.start(0, 100, 3);
  q.request(0, 100, 200, 3);
  q.request(0, 150, 250, 3); // overlaps what is stored: all below 250 is stored
  assert.equal(await q.committed(0), 250);
  q.request(0, 260, 300, 3); // 250..259 never stored: refused
  q.request(0, 250, 260, 3); // and the partition stays refused until it starts again
  assert.equal(await q.committed(0), 250);
  q.start(0, 250, 3);
  q.request(0, 250, 300, 3);
  assert.equal(await q.committed(0), 300);
  assert.deepEqual(gaps, [[0, 100, undefined], [0, 260, 250], [0, 250, undefined]]);
  assert.deepEqual(sent.map(([, o]) => o).at(-1), 300);
  assert.ok(!sent.some(([, o]) => o === 260), JSON.stringify(sent));
});

Deno.test("commit queue: a start of an older generation does not vouch for the new one", async () => {
  let gen = 1;
  const { q, sent, gaps } = queue(() => gen);
  q.start(0, 0, 1);
  gen = 2;
  q.request(0, 0, 50, 2);
  assert.equal(await q.committed(0), undefined);
  assert.deepEqual(sent, []);
  assert.deepEqual(gaps, [[0, 0, undefined]]);
});

Deno.test("commit queue: without the contiguity check (a sabotaged sink) a gap is committed", async () => {
  const sent: number[] = [];
  const q = new CommitQueue({
    commit: (_p, offset) => {
      sent.push(offset);
      return Promise.resolve();
    },
    generation: () => 1,
    onStale: () => {},
    onRefused: () => {},
    onCommitted: () => {},
    contiguous: false,
  });
  q.request(0, 500, 600, 1);
  assert.equal(await q.committed(0), 600);
  assert.deepEqual(sent, [600]);
});
