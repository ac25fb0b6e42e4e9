import assert from "node:assert/strict";
import { MAX_SEEKS, resumeOffset, startDecision } from "./sink_position.ts";

Deno.test("resume offset: the highest known, none when nothing is known", () => {
  assert.equal(resumeOffset([500, 700, 480]), 700);
  assert.equal(resumeOffset([undefined, 300, undefined]), 300);
  assert.equal(resumeOffset([-1, undefined]), undefined, "Kafka's -1 is no commit");
  assert.equal(resumeOffset([]), undefined);
  assert.equal(resumeOffset([0]), 0);
});

Deno.test("start decision: taken at the resume offset, sought there otherwise", () => {
  assert.deepEqual(startDecision({ first: 500, fetched: 500, resume: 500, seeks: 0 }), {
    take: 500,
  });
  // #31: the position ran past the open batch dropped at the rejoin
  assert.deepEqual(startDecision({ first: 700, fetched: 700, resume: 500, seeks: 0 }), {
    seek: 500,
  });
  // behind a commit still replicating when the new generation fetched its offsets
  assert.deepEqual(startDecision({ first: 400, fetched: 400, resume: 500, seeks: 1 }), {
    seek: 500,
  });
  // fetched at 500, control records before 503: nothing in between
  assert.deepEqual(startDecision({ first: 503, fetched: 500, resume: 500, seeks: 1 }), {
    take: 500,
  });
  // nothing known (a partition new to the group): its position is taken
  assert.deepEqual(startDecision({ first: 0, fetched: 0, resume: undefined, seeks: 0 }), {
    take: 0,
  });
  // the log no longer has 500 (kafkajs reset an out-of-range position): no endless seeking
  assert.deepEqual(startDecision({ first: 900, fetched: 900, resume: 500, seeks: MAX_SEEKS }), {
    take: 900,
  });
});
