/**
 * A set of non-negative integers stored as sorted, disjoint, non-adjacent
 * inclusive ranges: `[[0, 9999], [10002, 20000]]`. Sequence numbers arrive
 * mostly in order, so the common add is O(1) at the end; set operations are
 * linear in the number of ranges, which keeps checks over tens of millions of
 * seqs fast.
 *
 * ```ts
 * import { RangeSet } from "./range_set.ts";
 * const acked = RangeSet.from([0, 1, 2, 5]);
 * acked.ranges(); // [[0, 2], [5, 5]]
 * acked.difference(RangeSet.fromRanges([[0, 5]])).size; // 0
 * ```
 * @module
 */

export type Range = [number, number];

export class RangeSet {
  #r: Range[] = [];

  static from(values: Iterable<number>): RangeSet {
    const s = new RangeSet();
    for (const v of values) s.add(v);
    return s;
  }

  /** From ranges in any order, overlapping or not. Throws on malformed input. */
  static fromRanges(ranges: ReadonlyArray<readonly [number, number]>): RangeSet {
    const s = new RangeSet();
    for (const r of ranges) {
      if (
        !Array.isArray(r) || r.length !== 2 || !Number.isInteger(r[0]) || !Number.isInteger(r[1]) ||
        r[0] < 0 || r[1] < r[0]
      ) {
        throw new RangeError(`not a range: ${JSON.stringify(r)}`);
      }
      s.addRange(r[0], r[1]);
    }
    return s;
  }

  add(v: number): void {
    this.addRange(v, v);
  }

  /** Adds [lo, hi] (inclusive). */
  addRange(lo: number, hi: number): void {
    const r = this.#r;
    const last = r[r.length - 1];
    if (!last || lo > last[1] + 1) {
      r.push([lo, hi]);
      return;
    }
    if (lo >= last[0]) {
      if (hi > last[1]) last[1] = hi;
      return;
    }
    // General case: find the first range whose end >= lo - 1.
    let a = 0;
    let b = r.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (r[m][1] < lo - 1) a = m + 1;
      else b = m;
    }
    let end = a;
    let newLo = lo;
    let newHi = hi;
    while (end < r.length && r[end][0] <= hi + 1) {
      newLo = Math.min(newLo, r[end][0]);
      newHi = Math.max(newHi, r[end][1]);
      end++;
    }
    r.splice(a, end - a, [newLo, newHi]);
  }

  has(v: number): boolean {
    const r = this.#r;
    let a = 0;
    let b = r.length - 1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (v < r[m][0]) b = m - 1;
      else if (v > r[m][1]) a = m + 1;
      else return true;
    }
    return false;
  }

  get size(): number {
    let n = 0;
    for (const [lo, hi] of this.#r) n += hi - lo + 1;
    return n;
  }

  isEmpty(): boolean {
    return this.#r.length === 0;
  }

  /** A copy of the ranges. */
  ranges(): Range[] {
    return this.#r.map(([a, b]) => [a, b]);
  }

  *values(): IterableIterator<number> {
    for (const [lo, hi] of this.#r) for (let v = lo; v <= hi; v++) yield v;
  }

  /** The first `n` values (for reports). */
  first(n: number): number[] {
    const out: number[] = [];
    for (const v of this.values()) {
      if (out.length >= n) break;
      out.push(v);
    }
    return out;
  }

  union(other: RangeSet): RangeSet {
    const s = RangeSet.fromRanges(this.#r);
    for (const [lo, hi] of other.#r) s.addRange(lo, hi);
    return s;
  }

  intersection(other: RangeSet): RangeSet {
    const out = new RangeSet();
    const a = this.#r;
    const b = other.#r;
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const lo = Math.max(a[i][0], b[j][0]);
      const hi = Math.min(a[i][1], b[j][1]);
      if (lo <= hi) out.#r.push([lo, hi]);
      if (a[i][1] < b[j][1]) i++;
      else j++;
    }
    return out;
  }

  difference(other: RangeSet): RangeSet {
    const out = new RangeSet();
    const b = other.#r;
    let j = 0;
    for (const [lo0, hi] of this.#r) {
      let lo = lo0;
      while (j < b.length && b[j][1] < lo) j++;
      let k = j;
      while (k < b.length && b[k][0] <= hi) {
        if (b[k][0] > lo) out.#r.push([lo, b[k][0] - 1]);
        lo = Math.max(lo, b[k][1] + 1);
        if (lo > hi) break;
        k++;
      }
      if (lo <= hi) out.#r.push([lo, hi]);
    }
    return out;
  }

  toJSON(): Range[] {
    return this.#r;
  }
}
