import assert from "node:assert/strict";
import { type CpuProfile, selfTimes } from "./cpuprofile_top.ts";

const frame = (functionName: string, url: string, lineNumber: number) => ({
  functionName,
  url,
  lineNumber,
});

Deno.test("selfTimes sums each function's samples over the profiles, largest first", () => {
  const a: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)", "", -1) },
      { id: 2, callFrame: frame("encode", "file:///work/main/pipeline/record_batch.ts", 99) },
      {
        id: 3,
        callFrame: frame("", "file:///x/node_modules/@platformatic/kafka/dist/utils.js", 4),
      },
    ],
    samples: [2, 2, 3, 1, 9],
    timeDeltas: [1000, 3000, 500, 100, 7000],
  };
  const b: CpuProfile = {
    nodes: [{
      id: 7,
      callFrame: frame("encode", "file:///work/main/pipeline/record_batch.ts", 99),
    }],
    samples: [7],
    timeDeltas: [2000],
  };
  assert.deepEqual(selfTimes([a, b]), [
    { name: "encode", place: "pipeline/record_batch.ts:100", ms: 6 },
    { name: "(anonymous)", place: "@platformatic/kafka/dist/utils.js:5", ms: 0.5 },
    { name: "(root)", place: "", ms: 0.1 },
  ]);
});
