/**
 * Bounded disks for real (root: tmpfs mounts in a temp folder): filled to the
 * free space asked, the ballast given back, and every mount gone after
 * `unmountUnder`, with the contents of a kept folder still there.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dataDiskPath,
  diskNodes,
  diskProblem,
  diskSpace,
  fillDisk,
  isMounted,
  MiB,
  mountDisks,
  mountsUnder,
  unmountUnder,
} from "./disk.ts";

Deno.test("disk: where each node's bounded disk lies", () => {
  assert.equal(dataDiskPath("/d", "kafka-2"), "/d/kafka-2/log");
  assert.equal(dataDiskPath("/d", "minio"), "/d/minio");
  assert.equal(dataDiskPath("/d", "redis"), undefined);
  assert.deepEqual(diskNodes(["kafka-1", "redis", "minio", "toxiproxy"]), ["kafka-1", "minio"]);
});

Deno.test({
  name: "disk: filled, given back, unmounted (kept contents stay)",
  ignore: diskProblem() !== undefined,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "disk-test-" });
  try {
    await mountDisks(dir, { brokers: [{ id: 1 }] }, 16);
    const log = dataDiskPath(dir, "kafka-1")!;
    const minio = dataDiskPath(dir, "minio")!;
    assert.ok(isMounted(log) && isMounted(minio));
    assert.deepEqual(mountsUnder(dir).sort(), [log, minio].sort());
    assert.ok(Math.abs((await diskSpace(log)).size - 16 * MiB) < MiB);

    const four = await fillDisk(log, 4);
    const left = (await diskSpace(log)).avail / MiB;
    assert.ok(left >= 3.5 && left <= 4.5, `${left} MiB left, asked 4`);
    await four.remove();

    Deno.writeTextFileSync(join(log, "segment"), "data");
    const full = await fillDisk(log, 0);
    assert.equal(full.availBytes, 0);
    assert.ok(full.bytes > 15 * MiB, `the ballast took ${full.bytes} bytes`);
    assert.throws(() => Deno.writeTextFileSync(join(log, "more"), "x".repeat(8192)));
    await full.remove();
    assert.ok((await diskSpace(log)).avail > 15 * MiB, "given back");
    assert.equal(Deno.readTextFileSync(join(log, "segment")), "data", "the data is intact");

    Deno.writeTextFileSync(join(minio, "object"), "kept");
    const unmounted = await unmountUnder(dir, ["minio"]);
    assert.equal(unmounted.length, 2);
    assert.deepEqual(mountsUnder(dir), []);
    assert.equal(Deno.readTextFileSync(join(minio, "object")), "kept");
    assert.ok(!isMounted(minio));
  } finally {
    await unmountUnder(dir);
    await Deno.remove(dir, { recursive: true });
  }
});
