import assert from "node:assert/strict";
import { batchKey } from "../pipeline/batcher.ts";
import {
  checkDurability,
  type CommitEvidence,
  type CommitSample,
  commitsLine,
  parseCommits,
  type PartitionEnds,
  type StoredRange,
  storedRange,
} from "./commits.ts";
import { runVerdict } from "./verdict.ts";

const T = 1_800_000_000_000; // epoch ms
const TOPIC = "network-telemetry";

/** A stored object of partition `p` with offsets `first..last`, stored `at` ms after T. */
function obj(p: number, first: number, last: number, at: number, kind = "events"): StoredRange {
  return {
    key: batchKey(kind as "events" | "dlq", TOPIC, p, first, last),
    partition: p,
    first,
    last,
    last_modified_ms: T + at,
  };
}

/** Commits seen `at` ms after T. */
function commits(
  list: [at: number, partition: number, offset: number][],
  end: Partial<CommitEvidence["end"]> = {},
): CommitEvidence {
  return {
    samples: list.map(([at, partition, offset]) => ({ at_ms: T + at, partition, offset })),
    end: { end_ms: T + 100_000, reads: 100, failed: 0, final: true, ...end },
    malformed: [],
  };
}

const ends: PartitionEnds[] = [
  { partition: 0, low: 0, high: 300 },
  { partition: 1, low: 0, high: 0 }, // received nothing
];

Deno.test("checkDurability: an honest sink (each commit after its upload) passes", () => {
  const objects = [
    obj(0, 0, 99, 1000),
    obj(0, 0, 99, 1010, "dlq"),
    obj(0, 100, 199, 2000),
    obj(0, 200, 299, 3000),
  ];
  const seen = commits([[0, 0, -1], [0, 1, -1], [1100, 0, 100], [2050, 0, 200], [3900, 0, 300]]);
  const d = checkDurability(seen, objects, ends);
  assert.equal(d.verdict, "pass", d.reasons.join("; "));
  assert.equal(d.commits, 3);
  assert.equal(d.ahead, 0);
  assert.equal(d.not_committed, 0);
  assert.deepEqual(d.reasons, []);
  assert.equal(d.checked, true);
});

Deno.test("checkDurability: a commit ahead of the store fails, naming it", async (t) => {
  await t.step("stored only later (a commit before the upload)", () => {
    const objects = [obj(0, 0, 99, 1000), obj(0, 100, 199, 9000), obj(0, 200, 299, 9500)];
    const d = checkDurability(
      commits([[1100, 0, 100], [1200, 0, 200], [9600, 0, 300]]),
      objects,
      ends,
    );
    assert.equal(d.verdict, "fail");
    assert.equal(d.ahead, 1);
    assert.match(d.samples[0], /^committed before stored: partition 0 offset 200/);
    assert.match(d.samples[0], /offset 100 was stored only at .* \(7\.8 s later\) in events\//);
    assert.match(d.reasons[0], /^committed before stored: 1 commits on 1 partitions were ahead /);
  });
  await t.step("never stored", () => {
    const d = checkDurability(
      commits([[1100, 0, 100], [2100, 0, 300]]),
      [obj(0, 0, 99, 1000), obj(0, 200, 299, 2000)],
      ends,
    );
    assert.equal(d.verdict, "fail");
    assert.equal(d.ahead, 1);
    assert.match(d.samples[0], /partition 0 offset 300 .* offset 100 was not stored at all/);
  });
  await t.step("the dlq/ object of a batch stored after the commit", () => {
    const d = checkDurability(
      commits([[1100, 0, 100], [20_000, 0, 300]]),
      [obj(0, 0, 99, 1000), obj(0, 0, 99, 8000, "dlq"), obj(0, 100, 299, 1500)],
      ends,
    );
    assert.equal(d.verdict, "fail");
    assert.match(d.samples[0], /offset 0 was stored only at .* in dlq\//);
  });
});

Deno.test("checkDurability: objects written after the commits that claim them fail", async (t) => {
  await t.step("a sink that re-reads the topic at the end and fills its holes", () => {
    // It committed as it read; what it lost was written by a second pass at the end.
    const objects = [obj(0, 0, 99, 1000), obj(0, 100, 199, 60_000), obj(0, 200, 299, 3000)];
    const d = checkDurability(
      commits([[1100, 0, 100], [2100, 0, 200], [3100, 0, 300]]),
      objects,
      ends,
    );
    assert.equal(d.verdict, "fail");
    assert.equal(d.ahead, 2);
    assert.match(d.samples[0], /offset 200 .* offset 100 was stored only at .*\(57\.9 s later\)/);
    assert.equal(d.samples.length, 1, "one finding per partition");
  });
  await t.step("an object rewritten later than the commit that claims it", () => {
    const d = checkDurability(
      commits([[1100, 0, 100], [2100, 0, 300]]),
      [obj(0, 0, 99, 90_000), obj(0, 100, 299, 2000)],
      ends,
    );
    assert.equal(d.verdict, "fail");
    assert.equal(d.ahead, 2);
    assert.match(d.samples[0], /offset 100 committed by .* offset 0 was stored only at/);
  });
});

Deno.test("checkDurability: the tolerance is 2 s and no more", () => {
  const ok = checkDurability(commits([[1000, 0, 300]]), [obj(0, 0, 299, 2900)], ends);
  assert.equal(ok.verdict, "pass", ok.reasons.join("; "));
  const late = checkDurability(commits([[1000, 0, 300]]), [obj(0, 0, 299, 3100)], ends);
  assert.equal(late.verdict, "fail");
  assert.equal(late.tolerance_ms, 2000);
});

Deno.test("checkDurability: never committing the whole topic within settle fails", async (t) => {
  const objects = [obj(0, 0, 299, 1000)];
  await t.step("committed part of it", () => {
    const d = checkDurability(commits([[1100, 0, 150]]), objects, ends);
    assert.equal(d.verdict, "fail");
    assert.equal(d.not_committed, 1);
    assert.match(d.reasons[0], /1 partitions were not committed to their end within settle/);
    assert.match(
      d.samples[0],
      /not committed within settle: partition 0: committed to offset 150 of 300/,
    );
  });
  await t.step("committed nothing", () => {
    const d = checkDurability(commits([[0, 0, -1]]), objects, ends);
    assert.equal(d.verdict, "fail");
    assert.match(d.samples[0], /partition 0: nothing committed \(it holds offsets 0\.\.299\)/);
  });
  await t.step("a commit that went back at the end counts as it is last", () => {
    const d = checkDurability(commits([[1100, 0, 300], [5000, 0, 200]]), objects, ends);
    assert.equal(d.verdict, "fail");
    assert.equal(d.not_committed, 1);
  });
  await t.step("unknown, not fail, when the read at the end of settle failed", () => {
    const d = checkDurability(commits([[1100, 0, 150]], { final: false }), objects, ends);
    assert.equal(d.verdict, "unknown");
    assert.match(d.reasons[0], /the read at the end of settle failed/);
  });
});

Deno.test("checkDurability: a partition that received nothing needs no commit", () => {
  const d = checkDurability(
    commits([[1100, 0, 300]]),
    [obj(0, 0, 299, 1000)],
    [...ends, { partition: 2, low: 40, high: 40 }],
  );
  assert.equal(d.verdict, "pass", d.reasons.join("; "));
  assert.equal(d.not_committed, 0);
});

Deno.test("checkDurability: commits from the partition's log start on", () => {
  // Offsets before the log start are gone from the topic: nothing to hold against the store.
  const d = checkDurability(
    commits([[1000, 0, 100], [2000, 0, 300]]),
    [obj(0, 100, 299, 1500)],
    [{ partition: 0, low: 100, high: 300 }],
  );
  assert.equal(d.verdict, "pass", d.reasons.join("; "));
  assert.equal(d.commits, 1);
});

Deno.test("parseCommits: garbage in commits.jsonl is a finding, never a crash", () => {
  const text = [
    commitsLine({ at_ms: T + 1000, partition: 0, offset: 300 }),
    "not json\n",
    '{"at_ms":"soon","partition":0,"offset":1}\n',
    "[1,2]\n",
    '{"at_ms":1,"partition":-1,"offset":1}\n',
    '{"at_ms":1e16,"partition":0,"offset":1}\n',
    '{"at_ms":9007199254740991,"seen":"events/x","etag":"e"}\n',
    '{"at_ms":1,"partition":0,"offset":1,"x":"\\u001b[2K"}\u001b[2K\n',
    "\n",
    commitsLine({ end_ms: T + 2000, reads: 2, failed: 0, final: true }),
  ].join("");
  const seen = parseCommits(text);
  assert.equal(seen.samples.length, 1);
  assert.deepEqual(seen.end, { end_ms: T + 2000, reads: 2, failed: 0, final: true });
  assert.equal(seen.malformed.length, 7, "a time no date holds is no sample");
  assert.match(seen.malformed[0], /^commits\.jsonl line 2 is not a commit sample: "not json"/);
  assert.ok(!seen.malformed.join("\n").includes("\u001b"), "shown, not obeyed");
  const d = checkDurability(seen, [obj(0, 0, 299, 500)], ends);
  assert.equal(d.verdict, "fail");
  assert.equal(d.malformed, 7);
  assert.match(d.reasons.join("\n"), /7 lines of commits\.jsonl are not commit samples/);
});

Deno.test("parseCommits: reads back what the sampler writes", () => {
  const samples: CommitSample[] = [
    { at_ms: T, partition: 0, offset: -1 },
    { at_ms: T + 1000, partition: 0, offset: 42 },
  ];
  const end = { end_ms: T + 5000, reads: 6, failed: 1, final: true };
  const seen = parseCommits([...samples, end].map(commitsLine).join(""));
  assert.deepEqual(seen, { samples, seen: [], end, malformed: [] });
  const d = checkDurability(seen, [], [{ partition: 0, low: 0, high: 0 }]);
  assert.equal(d.reads, 6);
  assert.equal(d.failed, 1);
  assert.match(d.notes[0], /1 of 7 reads of the sink group's offsets failed/);
});

Deno.test("checkDurability: a run without commits.jsonl is not checked, and says so", () => {
  const d = checkDurability(null, null, ends);
  assert.equal(d.verdict, "pass");
  assert.equal(d.checked, false);
  assert.match(d.notes[0], /no commits\.jsonl .*commits not checked/);
});

Deno.test("checkDurability: unknown when it cannot tell", async (t) => {
  await t.step("the group's offsets were never read", () => {
    const d = checkDurability(
      { samples: [], end: { end_ms: T, reads: 0, failed: 9, final: false }, malformed: [] },
      [],
      ends,
    );
    assert.equal(d.verdict, "unknown");
    assert.match(d.reasons[0], /could never be read/);
  });
  await t.step("the store gave no object times", () => {
    const d = checkDurability(
      commits([[1000, 0, 300]]),
      [{ ...obj(0, 0, 299, 0), last_modified_ms: null }],
      ends,
    );
    assert.equal(d.verdict, "unknown");
    assert.match(d.reasons[0], /gave no time for 1 objects/);
  });
});

Deno.test("runVerdict: a commit ahead of the store fails the run, with its reason", () => {
  const durability = checkDurability(
    commits([[1100, 0, 300]]),
    [obj(0, 0, 299, 9000)],
    ends,
  );
  const pass = { verdict: "pass" as const, reasons: [] };
  const run = runVerdict({
    completeness: pass,
    alerts: pass,
    faults: [],
    probes: null,
    recovery: null,
    recoveryIsHypothesis: false,
    durability,
  });
  assert.equal(run.verdict, "fail");
  assert.match(run.reasons[0], /^committed before stored: .*partition 0 offset 300/);
});

Deno.test("storedRange: a batch key's range and time; another key none", () => {
  assert.deepEqual(storedRange(batchKey("dlq", TOPIC, 3, 10, 19), T), {
    key: batchKey("dlq", TOPIC, 3, 10, 19),
    partition: 3,
    first: 10,
    last: 19,
    last_modified_ms: T,
    etag: null,
  });
  assert.equal(storedRange("events/x/backup-part-3.ndjson.gz", T), undefined);
});

Deno.test("checkDurability: an object is dated by when its final content was first seen", async (t) => {
  // The sink stored 0..99 at 1 s and committed; a rebalance made it replay the batch at 90 s.
  const rewritten = { ...obj(0, 0, 99, 90_000), etag: "aaa" };
  const rest = [{ ...obj(0, 100, 299, 2000), etag: "bbb" }];
  const withSeen = (seen: [at: number, etag: string][]) => ({
    ...commits([[1100, 0, 100], [2100, 0, 300]]),
    seen: seen.map(([at, etag]) => ({ at_ms: T + at, seen: rewritten.key, etag })),
  });
  await t.step("an honest replay rewrites the same bytes: durable", () => {
    const d = checkDurability(withSeen([[1050, "aaa"]]), [rewritten, ...rest], ends);
    assert.equal(d.verdict, "pass", d.reasons.join("; "));
  });
  await t.step("a placeholder before the commit, the content after it: ahead", () => {
    const d = checkDurability(withSeen([[1050, "placeholder"]]), [rewritten, ...rest], ends);
    assert.equal(d.verdict, "fail");
    assert.match(d.samples[0], /offset 0 was stored only at/);
  });
  await t.step("seen lines are read back from commits.jsonl", () => {
    const text = commitsLine({ at_ms: T, seen: rewritten.key, etag: "aaa" }) +
      commitsLine({ at_ms: T + 1100, partition: 0, offset: 100 });
    const parsed = parseCommits(text);
    assert.deepEqual(parsed.seen, [{ at_ms: T, seen: rewritten.key, etag: "aaa" }]);
    assert.deepEqual(parsed.malformed, []);
  });
});
