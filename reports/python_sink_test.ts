/**
 * The Python sink of reports/testdata/python-sink (written from
 * docs/contract.md alone) judges records as the harness's schema does: the
 * same verdict on 3,000 records, valid ones and every kind of corruption the
 * generator makes, plus the edges of JSON that differ between languages.
 */

import assert from "node:assert/strict";
import { eventSerializer, parseEvent, type TelemetryEvent } from "../pipeline/event.ts";
import { corrupt, MALFORMED_KINDS } from "../pipeline/malformed.ts";
import { Rng } from "../pipeline/rng.ts";
import { baselineFlow } from "../pipeline/traffic.ts";

Deno.test("the Python sink's schema agrees with the harness's", async () => {
  const rng = new Rng("python-sink");
  const serialize = eventSerializer("py-w0");
  const raws: string[] = [];
  for (let seq = 0; seq < 3000; seq++) {
    const line = serialize(seq, 1_700_000_000_000 + seq, baselineFlow(rng));
    if (seq % 3 !== 0) raws.push(line);
    else {
      const kind = MALFORMED_KINDS[seq % MALFORMED_KINDS.length];
      raws.push(corrupt(rng, JSON.parse(line) as TelemetryEvent, kind).raw);
    }
  }
  const edge = JSON.parse(raws[1]);
  raws.push(
    JSON.stringify({ ...edge, bytes_out: 7 }).replace('"bytes_out":7', '"bytes_out":7.0'),
    JSON.stringify({ ...edge, latency_ms: 1 }).replace('"latency_ms":1', '"latency_ms":NaN'),
    JSON.stringify({ ...edge, extra: 1 }),
    JSON.stringify({ ...edge, seq: true }),
    JSON.stringify({ ...edge, account_id: "12345678901\n" }),
    JSON.stringify({ ...edge, http_status: null }),
    "[]",
    "",
  );
  const expected = raws.map((r) => parseEvent(r).ok);
  const out = await new Deno.Command("python3", {
    args: [
      "-c",
      "import json, sys; sys.path.insert(0, sys.argv[1]); from sink import check\n" +
      "print(json.dumps([check(l.encode()) is None for l in json.load(sys.stdin)]))",
      new URL("./testdata/python-sink", import.meta.url).pathname,
    ],
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(raws)));
  await writer.close();
  const { code, stdout, stderr } = await out.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const got = JSON.parse(new TextDecoder().decode(stdout)) as boolean[];
  const differ = raws.filter((_, i) => got[i] !== expected[i]);
  assert.deepEqual(differ, [], `${differ.length} records judged differently`);
  assert.ok(expected.filter((v) => !v).length > 900);
});
