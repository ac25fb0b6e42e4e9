/**
 * The scale bench: its sizes flag and its slope, its synthetic topic (every
 * event once, valid, where its place says), and one run at a tiny size through
 * the command (two processes, a MinIO each: a few seconds), its last line the
 * agreed figure and a reference before it; bad flags exit 2.
 */

import assert from "node:assert/strict";
import { UsageError } from "../lib/exit_codes.ts";
import { parseEvent } from "../pipeline/event.ts";
import { parseSizes, slope } from "./bench_scale.ts";
import { ScaleSource } from "./_scale_source.ts";

Deno.test("parseSizes: millions, ascending, each once; anything else refused", () => {
  assert.deepEqual(parseSizes("20,1,5"), [1, 5, 20]);
  assert.deepEqual(parseSizes("0.2, 0.5,1"), [0.2, 0.5, 1]);
  for (const bad of ["0", "-1", "x", "", "1,,2", "201", "1,1", "0.001"]) {
    assert.throws(() => parseSizes(bad), UsageError, bad);
  }
});

Deno.test("slope: how a figure grows per million", () => {
  assert.equal(slope([1, 5, 20], [3, 11, 41]), 2);
  assert.equal(slope([2], [5]), 2.5);
  assert.ok(Math.abs(slope([1, 2, 3], [10, 20.5, 29.5]) - 9.75) < 1e-9);
  assert.throws(() => slope([], []), RangeError);
});

Deno.test("ScaleSource: every event once, valid, its identity where its place says", () => {
  const src = new ScaleSource({ events: 1003, partitions: 6, producers: 8 });
  let total = 0;
  const seen = new Map<string, Set<number>>();
  for (let p = 0; p < 6; p++) {
    total += src.countOn(p);
    for (let o = 0; o < src.countOn(p); o++) {
      const parsed = parseEvent(src.line(p, o));
      assert.ok(parsed.ok, `partition ${p} offset ${o}`);
      const { producer_id, seq } = parsed.event;
      if (!seen.has(producer_id)) seen.set(producer_id, new Set());
      seen.get(producer_id)!.add(seq);
    }
  }
  assert.equal(total, 1003);
  for (let w = 0; w < 8; w++) {
    const seqs = seen.get(src.producerId(w))!;
    assert.equal(seqs.size, src.seqsOf(w));
    assert.equal(Math.max(...seqs), src.seqsOf(w) - 1, "a producer's seqs from 0, no gap");
  }
  assert.equal(src.line(2, 7), new ScaleSource({ events: 1003 }).line(2, 7), "any thread, same");
});

const bench = (...args: string[]) =>
  new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./bench_scale.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();

Deno.test({
  name: "bench:scale at a tiny size: a verdict per size, the reference, the figure last",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const out = await bench("--sizes", "0.01,0.02");
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  const lines = text.trim().split("\n");
  // The slopes' values at so tiny a size are noise (fixed costs dominate): only their form.
  assert.match(lines.at(-1)!, /^verdict_s_per_million=-?\d+\.\d+ rss_mb_per_million=-?\d+\.\d$/);
  assert.match(lines.at(-2)!, /^reference: the table's columns 77 B\/event/);
  const rows = lines.filter((l) => / M events: verdict /.test(l));
  assert.equal(rows.length, 2);
  for (const row of rows) assert.match(row, /peak RSS \d+ MB.*: pass$/);
});

Deno.test("bench:scale: bad flags exit 2", async () => {
  for (const args of [["--sizes", "0"], ["--quick", "--sizes", "1"], ["--nope"]]) {
    const out = await bench(...args);
    assert.equal(out.code, 2, args.join(" "));
  }
});
