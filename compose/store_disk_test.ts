import assert from "node:assert/strict";
import { join } from "node:path";
import { isMounted, unmountUnder } from "./disk.ts";
import {
  DEFAULT_STORE_DISK_MB,
  fittedStoreMb,
  HOST_RESERVE_MB,
  mountStoreDisk,
  STORE_IMAGE,
  storeDiskMbFromEnv,
  storeFull,
} from "./store_disk.ts";

const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });

Deno.test("storeDiskMbFromEnv() takes MiB or 0, 8 GiB by default, refuses others", () => {
  assert.equal(storeDiskMbFromEnv(env({})), DEFAULT_STORE_DISK_MB);
  assert.equal(DEFAULT_STORE_DISK_MB, 8192);
  assert.equal(storeDiskMbFromEnv(env({ CHAOS_STORE_DISK_MB: " 2048 " })), 2048);
  assert.equal(storeDiskMbFromEnv(env({ CHAOS_STORE_DISK_MB: "0" })), 0);
  for (const bad of ["10", "8G", "-1", "1.5", "lots"]) {
    assert.throws(
      () => storeDiskMbFromEnv(env({ CHAOS_STORE_DISK_MB: bad })),
      /CHAOS_STORE_DISK_MB: .* is neither 0/,
      bad,
    );
  }
});

Deno.test("fittedStoreMb() leaves the host room for the disk, its copy and a reserve", () => {
  assert.equal(fittedStoreMb(8192, 100_000), 8192);
  assert.equal(fittedStoreMb(8192, 2 * 4096 + HOST_RESERVE_MB), 4096);
  assert.equal(fittedStoreMb(8192, 2000), 0, "too little for any store disk");
});

const why = Deno.build.os !== "linux" || Deno.uid() !== 0
  ? "needs root on Linux"
  : new Deno.Command("sh", { args: ["-c", "command -v mkfs.ext4 losetup fallocate"] })
      .outputSync().success
  ? null
  : "needs mkfs.ext4, losetup and fallocate";

Deno.test({
  name: "the store's disk is a bounded filesystem: filled, it is said full; unmounted with the " +
    "stack's disks, its store kept, its image and loop device gone",
  ignore: why !== null,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "chaos-store-disk-test-" });
    const dir = join(dataDir, "minio");
    await Deno.mkdir(dir);
    try {
      const made = mountStoreDisk(dir, 1024);
      assert.deepEqual(made, { mb: 1024 });
      assert.ok(isMounted(dir));
      assert.deepEqual([...Deno.readDirSync(dir)], [], "no lost+found for MinIO to list");
      assert.match(
        (mountStoreDisk(dir, 1024) as { problem: string }).problem,
        /is a disk already/,
      );
      await Deno.writeTextFile(join(dir, "kept.txt"), "an object");
      assert.equal(storeFull(dir), undefined, "an empty store is not full");
      // Past the bound the filesystem refuses: the host's disk gives no more.
      const fill = new Deno.Command("fallocate", { args: ["-l", "2G", join(dir, "fill")] })
        .outputSync();
      assert.equal(fill.success, false, "2 GiB do not fit on a 1 GiB store disk");
      new Deno.Command("fallocate", { args: ["-l", "990M", join(dir, "fill")] }).outputSync();
      assert.match(
        storeFull(dir) ?? "",
        /the store's disk \(\d+ MiB, CHAOS_STORE_DISK_MB\) was full/,
      );
      await Deno.remove(join(dir, "fill"));
      await unmountUnder(dataDir, ["minio"]);
      assert.equal(isMounted(dir), false);
      assert.equal(await Deno.readTextFile(join(dir, "kept.txt")), "an object");
      await assert.rejects(Deno.stat(join(dir, STORE_IMAGE)), Deno.errors.NotFound);
      const loops = new Deno.Command("losetup", { args: ["-a"], stdout: "piped" }).outputSync();
      assert.doesNotMatch(new TextDecoder().decode(loops.stdout), new RegExp(dataDir));
      assert.equal(storeFull(dir), undefined, "no store disk: nothing to say");
    } finally {
      await unmountUnder(dataDir);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
