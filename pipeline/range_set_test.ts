import assert from "node:assert/strict";
import { RangeSet } from "./range_set.ts";
import { Rng } from "./rng.ts";

Deno.test("RangeSet compacts in-order and out-of-order adds", () => {
  const s = RangeSet.from([5, 0, 1, 2, 9, 3, 4, 7]);
  assert.deepEqual(s.ranges(), [[0, 5], [7, 7], [9, 9]]);
  s.add(8);
  assert.deepEqual(s.ranges(), [[0, 5], [7, 9]]);
  s.addRange(6, 6);
  assert.deepEqual(s.ranges(), [[0, 9]]);
  assert.equal(s.size, 10);
  assert.ok(s.has(9) && !s.has(10));
});

Deno.test("RangeSet set operations agree with plain Sets on random data", () => {
  const rng = new Rng("ranges");
  for (let round = 0; round < 50; round++) {
    const a = new Set<number>();
    const b = new Set<number>();
    for (let i = 0; i < 300; i++) {
      if (rng.chance(0.5)) a.add(rng.int(0, 400));
      if (rng.chance(0.5)) b.add(rng.int(0, 400));
    }
    const ra = RangeSet.from(a);
    const rb = RangeSet.from(b);
    const sorted = (s: Iterable<number>) => [...s].sort((x, y) => x - y);
    assert.deepEqual([...ra.difference(rb).values()], sorted([...a].filter((x) => !b.has(x))));
    assert.deepEqual([...ra.intersection(rb).values()], sorted([...a].filter((x) => b.has(x))));
    assert.deepEqual([...ra.union(rb).values()], sorted(new Set([...a, ...b])));
    assert.equal(ra.size, a.size);
  }
});

Deno.test("RangeSet.fromRanges rejects malformed ranges", () => {
  assert.throws(() => RangeSet.fromRanges([[5, 2]]), RangeError);
  assert.throws(() => RangeSet.fromRanges([[-1, 2]]), RangeError);
  assert.throws(() => RangeSet.fromRanges([[1.5, 2]]), RangeError);
});
