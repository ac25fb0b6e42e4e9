import assert from "node:assert/strict";
import { diskMbFromEnv, ext4MkfsArgs, fittedDiskMb, HOST_RESERVE_MB } from "./service_disk.ts";

Deno.test("fittedDiskMb() leaves the host its reserve and room for each copy", () => {
  const once = { copies: 1, minMb: 64 };
  assert.equal(fittedDiskMb(3072, 100_000, once), 3072);
  assert.equal(fittedDiskMb(3072, 2048 + HOST_RESERVE_MB, once), 2048, "shrunk to what is free");
  assert.equal(fittedDiskMb(3072, 2048 + HOST_RESERVE_MB, { copies: 2, minMb: 64 }), 1024);
  assert.equal(fittedDiskMb(3072, 63 + HOST_RESERVE_MB, once), 0, "too little for any disk");
  assert.equal(fittedDiskMb(3072, 100, once), 0, "less free than the reserve");
});

Deno.test("diskMbFromEnv() names the variable and its bounds when it refuses a value", () => {
  const env = (v?: string) => ({ get: () => v });
  const o = { fallback: 500, minMb: 100 };
  assert.equal(diskMbFromEnv("X_MB", o, env()), 500);
  assert.equal(diskMbFromEnv("X_MB", o, env("0")), 0);
  assert.equal(diskMbFromEnv("X_MB", o, env("100")), 100);
  assert.throws(
    () => diskMbFromEnv("X_MB", o, env("99")),
    /^Error: X_MB: "99" is neither 0 \(no disk\) nor a size in MiB from 100 to 1048576$/,
  );
});

Deno.test("ext4MkfsArgs(): no journal, nothing reserved, the label and inode ratio given", () => {
  const args = ext4MkfsArgs("/d/.img", { label: "chaos-redis", bytesPerInode: 65536 });
  assert.deepEqual(args.slice(-3), ["-L", "chaos-redis", "/d/.img"]);
  assert.equal(args[args.indexOf("-i") + 1], "65536");
  assert.equal(args[args.indexOf("-m") + 1], "0");
  assert.ok(args.includes("^has_journal"));
});
