import assert from "node:assert/strict";
import { join } from "node:path";
import { MemoryLimit, MiB } from "./memory.ts";

Deno.test("MemoryLimit.inPlace: cgroup v2, the limit and oom.group on the node's own cgroup (a fake root)", async () => {
  const base = await Deno.makeTempDir();
  const dir = join(base, "chaos-run", "sink");
  try {
    await Deno.mkdir(dir, { recursive: true });
    for (const at of [base, join(base, "chaos-run")]) {
      await Deno.writeTextFile(join(at, "cgroup.subtree_control"), "");
    }
    await Deno.writeTextFile(join(dir, "memory.max"), "max\n");
    await Deno.writeTextFile(join(dir, "memory.current"), String(10 * MiB));
    await Deno.writeTextFile(join(dir, "memory.oom.group"), "0\n");
    await Deno.writeTextFile(join(dir, "memory.events"), "oom 1\noom_kill 3\n");
    const limit = await MemoryLimit.inPlace(base, dir);
    assert.equal(await limit.usage(), 10 * MiB);
    // Above what it holds: no ballast, the limit in place, the whole group an OOM kill's target.
    const applied = await limit.apply(64 * MiB, 10 * MiB, []);
    assert.deepEqual(applied, { limitBytes: 64 * MiB, usageBytes: 10 * MiB, ballast: false });
    assert.equal(await Deno.readTextFile(join(dir, "memory.oom.group")), "1");
    assert.equal(
      await Deno.readTextFile(join(base, "chaos-run", "cgroup.subtree_control")),
      "+memory",
    );
    assert.equal(await limit.oomKills(), 3);
    await limit.lift();
    assert.equal(await Deno.readTextFile(join(dir, "memory.max")), "max");
    assert.equal(await Deno.readTextFile(join(dir, "memory.oom.group")), "0");
    // The node's cgroup gone meanwhile (it stopped): nothing to put back.
    await Deno.remove(base, { recursive: true });
    await limit.lift();
  } finally {
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
  await assert.rejects(MemoryLimit.inPlace("/nonexistent", "/nonexistent/x"), /has no memory.max/);
});
