import assert from "node:assert/strict";
import { batchKey } from "../pipeline/batcher.ts";
import { CONTRACT_VERSION, CONTRACT_VERSIONS, earlierContractName } from "./contract.ts";

Deno.test("CONTRACT_VERSION is the version docs/contract.md states on its first lines", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/contract.md", import.meta.url));
  const m = doc.slice(0, 600).match(/Contract version (\d+)/);
  assert.ok(m, "docs/contract.md names no version at its top");
  assert.equal(Number(m[1]), CONTRACT_VERSION);
  assert.ok(CONTRACT_VERSIONS[CONTRACT_VERSION]);
  for (let v = 1; v <= CONTRACT_VERSION; v++) assert.ok(CONTRACT_VERSIONS[v], `version ${v}`);
});

Deno.test("earlierContractName: a version-1 dlq name says so; this version's names and others do not", () => {
  const v2 = batchKey("dlq", "t", 0, 0, 9);
  assert.match(v2, /\.jsonl\.gz$/);
  const v1 = v2.replace(/\.jsonl\.gz$/, ".ndjson.gz");
  assert.deepEqual(earlierContractName(v1), {
    version: 1,
    text: "dlq objects named `.ndjson.gz` (contract v1); this contract (v2) wants `.jsonl.gz`",
  });
  assert.equal(earlierContractName(v2), undefined);
  assert.equal(earlierContractName(batchKey("events", "t", 0, 0, 9)), undefined);
  assert.equal(earlierContractName("dlq/t/partition=0/whatever.ndjson.gz"), undefined);
  assert.equal(earlierContractName("dlq/t/partition=0/part-1-0-9.ndjson.gz"), undefined);
});
