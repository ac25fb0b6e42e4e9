import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { eventSerializer, parseEvent } from "./event.ts";
import { corrupt, MALFORMED_KINDS } from "./malformed.ts";
import { Rng } from "./rng.ts";
import { inlineCodec, WorkerCodec } from "./sink_codec.ts";
import { baselineFlow } from "./traffic.ts";

/** 2,000 records: valid events, every malformed kind, and some that are not even JSON. */
function records(): string[] {
  const rng = new Rng("codec");
  const serialize = eventSerializer("p-1");
  const out: string[] = [];
  for (let seq = 0; seq < 2000; seq++) {
    const text = serialize(seq, 1_700_000_000_000 + seq, baselineFlow(rng));
    if (seq % 7 === 3) {
      out.push(corrupt(rng, JSON.parse(text), MALFORMED_KINDS[seq % MALFORMED_KINDS.length]).raw);
    } else if (seq % 97 === 5) out.push(seq % 2 ? "" : "\u0000not json");
    else out.push(text);
  }
  return out;
}

Deno.test("sink codec: the worker and the inline codec agree with parseEvent", async () => {
  const lines = records();
  const expected = lines.flatMap((line, index) => {
    const parsed = parseEvent(line);
    return parsed.ok ? [] : [{ index, ...parsed }].map(({ ok: _, ...rest }) => rest);
  });
  assert.ok(expected.length > 250, `${expected.length} invalid records in the sample`);
  const worker = new WorkerCodec();
  try {
    assert.deepEqual(await inlineCodec().validate(lines), expected);
    assert.deepEqual(await worker.validate(lines), expected);
    // Requests in flight together come back to their own callers.
    const [a, b] = await Promise.all([
      worker.validate(lines.slice(0, 1000)),
      worker.validate(lines.slice(1000)),
    ]);
    assert.deepEqual(
      [...a, ...b.map((r) => ({ ...r, index: r.index + 1000 }))],
      expected,
    );
  } finally {
    worker.close();
  }
});

Deno.test("sink codec: gzip round-trips, in the worker and inline", async () => {
  const text = records().join("\n") + "\n";
  const worker = new WorkerCodec();
  try {
    for (const codec of [worker, inlineCodec()]) {
      const gz = await codec.gzip(text, 3);
      assert.equal(new TextDecoder().decode(gunzipSync(gz)), text);
    }
  } finally {
    worker.close();
  }
});

Deno.test("sink codec: requests still waiting when the worker goes are done inline", async () => {
  const lines = records();
  const worker = new WorkerCodec();
  const pending = [worker.validate(lines), worker.gzip("x\n", 1)];
  worker.close(); // before the worker could answer
  const [invalid, gz] = await Promise.all(pending);
  assert.deepEqual(invalid, await inlineCodec().validate(lines));
  assert.equal(new TextDecoder().decode(gunzipSync(gz as Uint8Array)), "x\n");
  assert.deepEqual(await worker.validate(['{"x":1}']), await inlineCodec().validate(['{"x":1}']));
});
