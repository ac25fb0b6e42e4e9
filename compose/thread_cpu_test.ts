import assert from "node:assert/strict";
import {
  formatGroups,
  groupDelta,
  mergeGroups,
  parseThreadStat,
  threadGroup,
  type ThreadStat,
} from "./thread_cpu.ts";

Deno.test("parseThreadStat: a thread's name with spaces, its user and kernel seconds", () => {
  const line = "812 (GC Thread#0) S 1 800 800 0 -1 4194368 10 0 0 0 250 75 0 0 20 0 40 0 99 0 0";
  assert.deepEqual(parseThreadStat(line), {
    tid: 812,
    name: "GC Thread#0",
    userS: 2.5,
    systemS: 0.75,
  });
  assert.equal(parseThreadStat("nonsense"), undefined);
  assert.equal(parseThreadStat("12 (x) S 1"), undefined);
});

Deno.test("threadGroup: numbered threads of one kind are one group", () => {
  assert.equal(threadGroup("GC Thread#0"), "GC Thread#");
  assert.equal(threadGroup("GC Thread#1"), "GC Thread#");
  assert.equal(threadGroup("ReplicaFetcherT"), "ReplicaFetcherT");
  assert.equal(threadGroup("data-plane-kafk"), "data-plane-kafk");
  assert.equal(threadGroup("kafka-request-h"), "kafka-request-h");
  assert.equal(threadGroup("C2 CompilerThre"), "C# CompilerThre");
  assert.equal(threadGroup("pool-12-thread-3"), "pool-#-thread-#");
  assert.equal(threadGroup("broker-1-to-con"), "broker-#-to-con");
});

Deno.test("groupDelta and mergeGroups: the window's CPU per group, threads born and ended", () => {
  const t = (tid: number, name: string, userS: number, systemS: number): ThreadStat => ({
    tid,
    name,
    userS,
    systemS,
  });
  const before = [t(1, "GC Thread#0", 10, 1), t(2, "GC Thread#1", 5, 1), t(3, "gone", 9, 9)];
  const after = [
    t(1, "GC Thread#0", 12, 1.5),
    t(2, "GC Thread#1", 6, 1),
    t(4, "kafka-request-h", 3, 4),
  ];
  const groups = groupDelta(before, after);
  assert.deepEqual(groups, [
    { group: "kafka-request-h", threads: 1, userS: 3, systemS: 4 },
    { group: "GC Thread#", threads: 2, userS: 3, systemS: 0.5 },
  ]);
  const merged = mergeGroups([groups, groups]);
  assert.deepEqual(merged[1], { group: "GC Thread#", threads: 4, userS: 6, systemS: 1 });
  const table = formatGroups(merged, 1).join("\n");
  assert.match(table, /21\.00 CPU-s: user 12\.00, kernel 9\.00 \(43%\)/);
  assert.match(table, /14\.00\s+66\.7%\s+6\.00\s+8\.00\s+2\s+kafka-request-h/);
  assert.doesNotMatch(table, /GC Thread/, "only the top group");
});
