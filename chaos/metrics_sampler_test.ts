import assert from "node:assert/strict";
import {
  capSeries,
  MAX_METRICS_BYTES,
  MAX_SERIES,
  MetricsSampler,
  readCapped,
  sampleLine,
} from "./metrics_sampler.ts";

/** A `/metrics` answer of `series` lines, streamed. */
function huge(series: number): Response {
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i >= series) return c.close();
      const lines = [];
      for (let j = 0; j < 1000 && i < series; j++, i++) lines.push(`m{i="${i}"} ${i}\n`);
      c.enqueue(new TextEncoder().encode(lines.join("")));
    },
  });
  return new Response(stream);
}

Deno.test("readCapped: reads at most MAX_METRICS_BYTES, drops the cut line", async () => {
  const { text, truncated } = await readCapped(huge(1_000_000));
  assert.ok(truncated);
  assert.ok(text.length <= MAX_METRICS_BYTES);
  assert.ok(text.endsWith("\n"));
  for (const line of text.trim().split("\n")) assert.match(line, /^m\{i="\d+"\} \d+$/);
  const small = await readCapped(new Response("a 1\nb 2\n"));
  assert.deepEqual(small, { text: "a 1\nb 2\n", truncated: false });
});

Deno.test("capSeries and sampleLine keep at most MAX_SERIES series", async () => {
  const { text } = await readCapped(huge(5000));
  const line = JSON.parse(sampleLine(1, "sink", text));
  assert.equal(Object.keys(line.values).length, MAX_SERIES);
  assert.equal(line.truncated, true);
  assert.deepEqual(capSeries({ a: 1 }), { values: { a: 1 }, truncated: false });
  assert.equal(JSON.parse(sampleLine(1, "sink", "a 1\n")).truncated, undefined);
});

Deno.test("MetricsSampler: a component answering a huge /metrics is sampled bounded", async () => {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () => huge(3_000_000),
  );
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/metrics.jsonl`;
    const sampler = new MetricsSampler(file, {
      sink: `http://127.0.0.1:${server.addr.port}/metrics`,
    });
    sampler.start(100);
    const deadline = Date.now() + 5000;
    while ((await Deno.readTextFile(file)) === "" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    sampler.stop();
    await new Promise((r) => setTimeout(r, 1000)); // a sample in flight ends
    const lines = (await Deno.readTextFile(file)).trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(lines.length >= 1);
    for (const l of lines) {
      assert.ok(Object.keys(l.values).length <= MAX_SERIES);
      assert.equal(l.truncated, true);
    }
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
