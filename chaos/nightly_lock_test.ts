import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireNightLock, lockPath, readSkipped } from "./nightly_lock.ts";

Deno.test("the night lock: a second night while one runs is refused and recorded", async () => {
  const out = await Deno.makeTempDir();
  const first = await acquireNightLock(out, "2026-11-20");
  assert.ok(first.acquired);
  const second = await acquireNightLock(out, "2026-11-21");
  assert.ok(!second.acquired);
  assert.match(second.why, /the night of 2026-11-20 is still running since .*\(pid \d+\)/);
  const skipped = await readSkipped(out);
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0].date, "2026-11-21");
  assert.equal(skipped[0].holder.date, "2026-11-20");
  await first.release();
  const third = await acquireNightLock(out, "2026-11-21");
  assert.ok(third.acquired, "released: the next night runs");
  await third.release();
  await Deno.remove(out, { recursive: true });
});

Deno.test("the night lock: a lock whose process is gone is stale and taken over", async () => {
  const out = await Deno.makeTempDir();
  await Deno.writeTextFile(
    lockPath(out),
    JSON.stringify({ pid: 999_999_999, started: "2026-11-19T02:30:00Z", date: "2026-11-19" }),
  );
  const lock = await acquireNightLock(out, "2026-11-20");
  assert.ok(lock.acquired);
  assert.equal(JSON.parse(await Deno.readTextFile(lockPath(out))).pid, Deno.pid);
  assert.deepEqual(await readSkipped(out), []);
  await lock.release();
  assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), []);
  // a broken lock file is stale too
  await Deno.writeTextFile(join(out, "nightly.lock"), "{");
  const again = await acquireNightLock(out, "2026-11-20", () => Promise.resolve(true));
  assert.ok(again.acquired);
  await again.release();
  await Deno.remove(out, { recursive: true });
});
