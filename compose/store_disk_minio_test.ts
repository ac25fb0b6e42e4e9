/**
 * MinIO on the store's disk (store_disk.ts), for real: a pipeline that fills the store gets its
 * PUTs refused by MinIO, the host's disk gives no more, and `storeFull` says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { objectStore } from "../pipeline/store.ts";
import { waitFor } from "../lib/wait.ts";
import { unmountUnder } from "./disk.ts";
import { minioReady } from "./probes.ts";
import { provision } from "./provision.ts";
import { mountStoreDisk, storeFull } from "./store_disk.ts";
import { slow } from "./testing.ts";

const root = Deno.build.os === "linux" && Deno.uid() === 0;

Deno.test({
  ...slow,
  name: "MinIO on a full store disk refuses PUTs, and the store is said full",
  ignore: slow.ignore || !root,
  fn: async () => {
    const { minio } = await provision({ only: ["minio"] });
    const dataDir = await Deno.makeTempDir({ prefix: "chaos-store-minio-test-" });
    const dir = join(dataDir, "minio");
    await Deno.mkdir(dir);
    const port = Number(Deno.env.get("CHAOS_TEST_BASE_PORT") ?? 25200) + 10;
    const s3 = {
      endpoint: `http://127.0.0.1:${port}`,
      accessKey: "storetest",
      secretKey: "storetest-secret-1234",
      bucket: "telemetry",
    };
    let server: Deno.ChildProcess | undefined;
    try {
      assert.deepEqual(mountStoreDisk(dir, 1024), { mb: 1024 });
      server = new Deno.Command(minio, {
        args: [
          "server",
          dir,
          "--address",
          `127.0.0.1:${port}`,
          "--console-address",
          "127.0.0.1:0",
          "--quiet",
        ],
        env: {
          MINIO_ROOT_USER: s3.accessKey,
          MINIO_ROOT_PASSWORD: s3.secretKey,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitFor(() => minioReady(s3.endpoint), { timeoutMs: 30_000, what: "MinIO ready" });
      const store = objectStore(s3);
      await store.client.makeBucket(s3.bucket);
      await store.putText("events/a.txt", "fits", "text/plain");
      // What a pipeline that PUTs without end comes to: the disk full but for a few MiB.
      const free = Number(
        new TextDecoder().decode(
          new Deno.Command("df", { args: ["-B1", "--output=avail", dir], stdout: "piped" })
            .outputSync().stdout,
        ).trim().split("\n").at(-1),
      );
      const fill = new Deno.Command("fallocate", {
        args: ["-l", String(free - 4 * 1024 * 1024), join(dir, "ballast")],
      }).outputSync();
      assert.ok(fill.success);
      const big = new Uint8Array(8 * 1024 * 1024);
      const refused = await store.putBytes("events/b.bin", big, "application/octet-stream")
        .then(() => "stored", (e) => String(e));
      assert.notEqual(refused, "stored", "MinIO stored 8 MiB in 4 MiB");
      assert.match(storeFull(dir) ?? "", /was full: .* MinIO's writes failed/);
    } finally {
      server?.kill("SIGKILL");
      await server?.status;
      await unmountUnder(dataDir);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
