import assert from "node:assert/strict";
import { join } from "node:path";
import { parseCommits } from "../validate/commits.ts";
import { CommitSampler, type CommitSamplerOptions } from "./commit_sampler.ts";

type Answer = { partition: number; offset: string }[];

/** An admin whose answers are `script`, one per read (the last repeated); `null` fails. */
function fakeAdmin(script: (Answer | null | "hang")[]) {
  let i = 0;
  const fetchOffsets = (o: { groupId: string; topics: string[] }) => {
    const a = script[Math.min(i++, script.length - 1)];
    if (a === "hang") return new Promise<never>(() => {});
    if (a === null) return Promise.reject(new Error("no coordinator"));
    return Promise.resolve([{ topic: o.topics[0], partitions: a }]);
  };
  return { calls: () => i, fetchOffsets } as unknown as CommitSamplerOptions["admin"] & {
    calls(): number;
  };
}

const offsets = (...o: number[]): Answer =>
  o.map((x, partition) => ({ partition, offset: String(x) }));

Deno.test("CommitSampler keeps every change, counts failed reads, and ends with one more read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "commits.jsonl");
    const admin = fakeAdmin([
      offsets(-1, -1),
      offsets(-1, -1),
      null,
      offsets(10, -1),
      offsets(
        10,
        20,
      ),
    ]);
    const s = CommitSampler.start({
      admin: admin,
      topic: "t",
      group: "g",
      file,
      everyMs: 20,
    });
    while (admin.calls() < 4) await new Promise((r) => setTimeout(r, 10));
    const seen = await s.stop();
    assert.deepEqual(seen.samples.map((x) => [x.partition, x.offset]), [
      [0, -1],
      [1, -1],
      [0, 10],
      [1, 20],
    ]);
    assert.equal(seen.end?.failed, 1);
    assert.equal(seen.end?.final, true);
    assert.equal(seen.end?.reads, admin.calls() - 1);
    assert.equal(await s.stop(), await s.stop(), "idempotent");
    const calls = admin.calls();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(admin.calls(), calls, "no reads after stop");
    assert.deepEqual(parseCommits(await Deno.readTextFile(file)), seen, "the file is the evidence");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CommitSampler: a hanging read is skipped; an abort stops sampling without a last read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "commits.jsonl");
    const admin = fakeAdmin(["hang", offsets(5)]);
    const abort = new AbortController();
    const s = CommitSampler.start({
      admin: admin,
      topic: "t",
      group: "g",
      file,
      everyMs: 10,
      readTimeoutMs: 30,
      signal: abort.signal,
    });
    while (s.samples.length === 0) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    const calls = admin.calls();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(admin.calls(), calls, "no reads after the abort");
    const seen = await s.stop();
    assert.equal(seen.end?.failed, 1);
    assert.equal(seen.end?.final, false);
    assert.deepEqual(seen.samples.map((x) => x.offset), [5]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
