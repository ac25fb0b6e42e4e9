/**
 * Lazy data disks: the pure parts (backing paths, lazyfs mounts in a mountinfo
 * text), then real FUSE (root, /dev/fuse): a formatted folder moves under its
 * mount and survives a power loss, `unmountAll` puts every backing folder back
 * and leaves no mount, and what a dead run left (a detached mount point beside
 * its backing folder) is put back by `restoreBackings` and by the watchdog's
 * shell script alike.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  backingPath,
  lazyDisk,
  LazyDiskError,
  LazyDisks,
  lazyMountsIn,
  lazyMountsUnder,
  lazyStackProblem,
  RESTORE_BACKINGS_SCRIPT,
  restoreBackings,
} from "./lazy_disks.ts";
import { lazyfsProblem } from "./lazyfs.ts";

Deno.test("lazy disks: a backing folder sits beside its mount point", () => {
  assert.equal(backingPath("/d/kafka-1/log"), "/d/kafka-1/log.backing");
  assert.equal(backingPath("/d/minio/"), "/d/minio.backing");
});

Deno.test("lazy disks: the lazyfs mounts under a folder, deepest first, others ignored", () => {
  const info = [
    "36 25 0:32 / /d/kafka-1/log rw,nosuid - fuse.lazyfs /d/kafka-1/log.backing rw",
    "37 25 0:33 / /d/minio rw - tmpfs chaos-disk rw,size=2097152k",
    "38 25 0:34 / /d/a\\040b/kafka-2/log rw - fuse.lazyfs /x rw",
    "39 25 0:35 / /d2/kafka-1/log rw - fuse.lazyfs /y rw",
    "40 25 0:36 / /d/kafka-1/log/deeper rw - fuse.lazyfs /z rw",
  ].join("\n");
  assert.deepEqual(lazyMountsIn("/d/", info), [
    "/d/kafka-1/log/deeper",
    "/d/a b/kafka-2/log",
    "/d/kafka-1/log",
  ]);
  assert.deepEqual(lazyMountsIn("/e", info), []);
});

Deno.test("lazy disks: which stacks can have them", () => {
  assert.equal(lazyStackProblem({ kind: "local" }), undefined);
  assert.equal(lazyStackProblem({ kind: "docker" }), undefined);
  assert.match(lazyStackProblem({ kind: "external" })!, /external stack's data/);
  assert.match(lazyStackProblem({ kind: "local", detached: true })!, /outlives it/);
  assert.match(lazyStackProblem({ kind: "docker", detached: true })!, /outlives it/);
  assert.match(lazyStackProblem({ kind: "docker", diskMb: 512 })!, /bounded disk too/);
  assert.match(
    lazyStackProblem({ kind: "docker", remoteEngine: "10.1.2.3" })!,
    /engine at 10\.1\.2\.3 is remote/,
  );
  assert.equal(lazyStackProblem({ kind: "local", remoteEngine: "10.1.2.3" }), undefined);
});

Deno.test("lazy disks: a stack without them has none", () => {
  assert.equal(lazyDisk({}, "kafka-1"), undefined);
  assert.equal(lazyDisk({ lazyDisks: new LazyDisks("/nowhere") }, "kafka-1"), undefined);
});

const fuse = {
  ignore: lazyfsProblem() !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
};

Deno.test({ name: "lazy disks: mounted, lost, put back, nothing left", ...fuse }, async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lazy-disks-" });
  const disks = new LazyDisks(dir);
  try {
    const log = join(dir, "kafka-1", "log");
    await Deno.mkdir(log, { recursive: true });
    await Deno.writeTextFile(join(log, "meta.properties"), "formatted\n");

    await t.step("a formatted folder moves under its mount, durable", async () => {
      const disk = await disks.add("kafka-1");
      await disks.add("minio");
      assert.equal(lazyDisk({ lazyDisks: disks }, "kafka-1"), disk);
      assert.deepEqual(disks.nodes, ["kafka-1", "minio"]);
      assert.deepEqual(lazyMountsUnder(dir), [log, join(dir, "minio")]);
      assert.equal(await Deno.readTextFile(join(log, "meta.properties")), "formatted\n");
      await Deno.writeTextFile(join(log, "unsynced"), "gone after the power loss");
      const report = await disk.powerLoss();
      assert.ok(report.filesDeleted >= 1, JSON.stringify(report));
      assert.equal(await Deno.readTextFile(join(log, "meta.properties")), "formatted\n");
      assert.equal(await Deno.stat(join(log, "unsynced")).catch(() => undefined), undefined);
      await Deno.writeTextFile(join(dir, "minio", "object"), "kept by a clean unmount");
    });

    await t.step("a node is put on a lazy disk once; others have none", async () => {
      await assert.rejects(() => disks.add("kafka-1"), LazyDiskError);
      await assert.rejects(() => disks.add("redis"), LazyDiskError);
    });

    await t.step("unmountAll: every backing folder back in its place, no mount", async () => {
      await disks.unmountAll();
      assert.deepEqual(lazyMountsUnder(dir), []);
      assert.equal(await Deno.readTextFile(join(log, "meta.properties")), "formatted\n");
      assert.equal(
        await Deno.readTextFile(join(dir, "minio", "object")),
        "kept by a clean unmount",
      );
      assert.equal(await Deno.stat(backingPath(log)).catch(() => undefined), undefined);
      assert.deepEqual(disks.nodes, []);
    });
  } finally {
    await disks.unmountAll().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lazy disks: a dead run's backing folders are put back", async (t) => {
  const leftover = async (dir: string) => {
    await Deno.mkdir(join(dir, "kafka-2", "log.backing"), { recursive: true });
    await Deno.mkdir(join(dir, "kafka-2", "log"), { recursive: true }); // the old mount point
    await Deno.writeTextFile(join(dir, "kafka-2", "log.backing", "00.log"), "records");
    await Deno.mkdir(join(dir, "minio.backing"), { recursive: true });
    await Deno.mkdir(join(dir, "minio"), { recursive: true });
    await Deno.writeTextFile(join(dir, "minio", "partial"), "a copy the watchdog made");
    await Deno.writeTextFile(join(dir, "minio.backing", "object"), "stored");
  };
  const check = async (dir: string) => {
    assert.equal(await Deno.readTextFile(join(dir, "kafka-2", "log", "00.log")), "records");
    assert.equal(await Deno.readTextFile(join(dir, "minio", "object")), "stored");
    assert.equal(await Deno.stat(join(dir, "minio", "partial")).catch(() => undefined), undefined);
    assert.equal(await Deno.stat(join(dir, "minio.backing")).catch(() => undefined), undefined);
  };
  await t.step("by restoreBackings (the next down or up)", async () => {
    const dir = await Deno.makeTempDir({ prefix: "lazy-left-" });
    try {
      await leftover(dir);
      assert.deepEqual((await restoreBackings(dir)).sort(), [
        join(dir, "kafka-2", "log.backing"),
        join(dir, "minio.backing"),
      ]);
      await check(dir);
      assert.deepEqual(await restoreBackings(dir), []);
      assert.deepEqual(await restoreBackings(join(dir, "missing")), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("by the watchdog's script", async () => {
    const dir = await Deno.makeTempDir({ prefix: "lazy-left-" });
    try {
      await leftover(dir);
      const out = await new Deno.Command("sh", {
        args: ["-c", `dir=$1; ${RESTORE_BACKINGS_SCRIPT}`, "sh", dir],
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      await check(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
