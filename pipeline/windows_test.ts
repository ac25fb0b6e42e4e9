import assert from "node:assert/strict";
import { SlidingWindows, WatermarkClock } from "./windows.ts";

const sum = {
  create: () => 0,
  add: (a: number, x: number) => a + x,
  merge: (a: number, b: number) => a + b,
};
const opts = { sizeMs: 60_000, slideMs: 10_000, outOfOrderMs: 5_000, idleMs: 10_000 };

Deno.test("SlidingWindows: every window an event falls in fires once, in order", () => {
  const w = new SlidingWindows(sum, opts);
  const wall = 0;
  w.add(0, "a", 65_000, 1, wall); // panes 60s; windows starting 10s..60s
  assert.deepEqual(w.advance(wall), [], "watermark 60s: nothing can fire yet");
  w.add(0, "a", 200_000, 0, wall); // watermark 195s
  const fired = w.advance(wall);
  assert.deepEqual(
    fired.filter((f) => f.entities.get("a") === 1).map((f) => [f.start, f.end]),
    [[10_000, 70_000], [20_000, 80_000], [30_000, 90_000], [40_000, 100_000], [50_000, 110_000], [
      60_000,
      120_000,
    ]],
  );
  assert.deepEqual(w.advance(wall), [], "nothing fires twice");
});

Deno.test("SlidingWindows: out-of-order events inside the bound count, late ones are dropped", () => {
  const w = new SlidingWindows(sum, opts);
  w.add(0, "a", 100_000, 1, 0);
  assert.equal(w.add(0, "a", 96_000, 1, 0), true, "4 s out of order is allowed");
  w.add(0, "a", 175_000, 0, 0); // watermark 170s: windows ending <= 170s fire
  const fired = w.advance(0);
  // Windows ending at or before 170 s fired; the last one holding data is 100..160 s.
  const last = fired[fired.length - 1];
  assert.equal(last.end, 160_000);
  assert.equal(fired.find((f) => f.start === 50_000)?.entities.get("a"), 2);
  // 95 s belongs to windows ending up to 150 s (pane 90 s): all fired -> late.
  assert.equal(w.add(0, "a", 95_000, 1, 0), false);
  assert.equal(w.late, 1);
  // 115 s: its last window (110..170 s) has fired too.
  assert.equal(w.add(0, "a", 115_000, 1, 0), false);
  // 125 s: window 120..180 s has not fired: accepted.
  assert.equal(w.add(0, "a", 125_000, 1, 0), true);
});

Deno.test("SlidingWindows: the slowest active partition holds the watermark, an idle one does not", () => {
  const w = new SlidingWindows(sum, opts);
  w.add(0, "a", 100_000, 1, 0);
  w.add(1, "b", 300_000, 1, 0);
  assert.equal(w.watermark(1000), 95_000, "partition 0 holds it back");
  assert.equal(w.watermark(10_500), 295_000, "partition 0 idle for 10 s: ignored");
  const fired = w.advance(10_500);
  assert.ok(fired.some((f) => f.entities.has("a")));
});

Deno.test("SlidingWindows: entities are aggregated apart", () => {
  const w = new SlidingWindows(sum, opts);
  for (let i = 0; i < 10; i++) w.add(0, i % 2 ? "odd" : "even", 61_000 + i, 1, 0);
  w.add(0, "x", 500_000, 0, 0);
  const f = w.advance(0).find((x) => x.start === 60_000)!;
  assert.equal(f.entities.get("odd"), 5);
  assert.equal(f.entities.get("even"), 5);
});

Deno.test("SlidingWindows rejects a size that is not a multiple of the slide", () => {
  assert.throws(() => new SlidingWindows(sum, { sizeMs: 60_000, slideMs: 7_000 }), RangeError);
});

Deno.test("SlidingWindows: open windows of a pane, oldest first, with what they received", () => {
  const w = new SlidingWindows(sum, opts, true);
  w.add(0, "a", 61_000, 2, 0); // pane 60 s
  w.add(0, "a", 75_000, 3, 0); // pane 70 s
  w.add(0, "b", 75_000, 7, 0);
  assert.deepEqual([...w.takeTouched()].map(([e, p]) => [e, [...p]]), [
    ["a", [60_000, 70_000]],
    ["b", [70_000]],
  ]);
  assert.equal(w.takeTouched().size, 0, "taken once");
  // Windows holding pane 70 s start at 20 s .. 70 s; those starting before 70 s also hold 60 s.
  assert.deepEqual(
    w.openWindowsOf("a", 70_000).map((x) => [x.start, x.end, x.acc]),
    [
      [20_000, 80_000, 5],
      [30_000, 90_000, 5],
      [40_000, 100_000, 5],
      [50_000, 110_000, 5],
      [60_000, 120_000, 5],
      [70_000, 130_000, 3],
    ],
  );
  assert.deepEqual(w.openWindowsOf("a", 70_000, (panes) => panes.length > 1).length, 5);
  // Once the watermark passes 100 s, windows ending by then are no longer open.
  w.add(0, "c", 106_000, 0, 0);
  w.advance(0);
  assert.deepEqual(w.openWindowsOf("a", 70_000).map((x) => x.start), [50_000, 60_000, 70_000]);
  assert.deepEqual(new SlidingWindows(sum, opts).takeTouched().size, 0, "untracked: nothing");
});

Deno.test("SlidingWindows: a fired window merges only the entities worth merging", () => {
  const w = new SlidingWindows<number, number>(
    { create: () => 0, add: (a, x) => a + x, merge: (a, b) => a + b },
    { sizeMs: 20_000, slideMs: 10_000, outOfOrderMs: 0 },
  );
  w.add(0, "small", 1000, 1, 0);
  w.add(0, "big", 2000, 50, 0);
  w.add(0, "big", 12_000, 60, 0);
  w.add(0, "-", 100_000, 0, 0);
  const asked: number[][] = [];
  const fired = w.advance(0, (panes) => {
    asked.push([...panes]);
    return panes.reduce((a, b) => a + b, 0) >= 100;
  });
  // Only "big" in [0, 20 s) reaches 100 (50 + 60); every entity's panes were asked about.
  assert.deepEqual(fired.map((f) => [f.start, [...f.entities]]), [[0, [["big", 110]]]]);
  assert.ok(asked.some((p) => p.length === 2 && p[0] === 50 && p[1] === 60));
});

Deno.test("WatermarkClock: the first wall time the watermark passed each window end", () => {
  const c = new WatermarkClock(10_000);
  assert.equal(c.observe(-Infinity, 1), false, "no watermark yet");
  assert.equal(c.observe(25_000, 100), true);
  assert.equal(c.passedAt(20_000), 100);
  assert.equal(c.passedAt(30_000), undefined, "not passed yet");
  assert.equal(c.observe(29_999, 200), false, "no new end passed");
  assert.equal(c.observe(30_000, 300), true, "reaching the end is passing it");
  assert.equal(c.observe(50_000, 400), true);
  assert.deepEqual([20_000, 30_000, 40_000, 50_000].map((e) => c.passedAt(e)), [
    100,
    300,
    400,
    400,
  ]);
  assert.equal(c.observe(40_000, 500), false, "a watermark going back changes nothing");
  assert.equal(c.passedAt(40_000), 400);
});

Deno.test("WatermarkClock: lateness delays the passing; a huge jump keeps only the last ends", () => {
  const late = new WatermarkClock(10_000, 2_000);
  late.observe(21_000, 1);
  assert.equal(late.passedAt(20_000), undefined, "needs end + lateness");
  late.observe(22_000, 2);
  assert.equal(late.passedAt(20_000), 2);
  const c = new WatermarkClock(10_000, 0, 4);
  c.observe(10_000, 1);
  c.observe(1e15, 2); // hours of event time at once: bounded work and memory
  assert.equal(c.passedAt(10_000), undefined, "forgotten: only `keep` ends are remembered");
  assert.equal(c.passedAt(1e15), 2);
  assert.equal(c.passedAt(1e15 - 30_000), 2);
  assert.equal(c.passedAt(1e15 - 40_000), undefined);
  assert.throws(() => new WatermarkClock(0), RangeError);
});
