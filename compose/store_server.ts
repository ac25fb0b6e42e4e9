/**
 * Serves a run's kept object store after its stack is gone: a MinIO process
 * over the run's retained `stack/minio` data, on a free loopback port, with
 * fresh random credentials (MinIO serves the objects of an existing data dir
 * under any root credentials). Used by `validate --run` to re-check a run
 * whose stack was stopped.
 *
 * ```ts
 * import { serveStore } from "./store_server.ts";
 * const server = await serveStore("reports/runs/x/latest/stack/minio");
 * // objectStore(server.s3) ...
 * await server.stop();
 * ```
 * @module
 */

import { join } from "node:path";
import { EnvironmentError } from "../lib/exit_codes.ts";
import type { Endpoints } from "../pipeline/endpoints.ts";
import { ProcessNode } from "./process_node.ts";
import { minioReady } from "./probes.ts";
import { provision } from "./provision.ts";
import { waitFor } from "../lib/wait.ts";
import { randomHex } from "../lib/ids.ts";

export interface StoreServer {
  s3: Endpoints["s3"];
  stop(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export async function serveStore(
  dataDir: string,
  options: { bucket?: string; timeoutMs?: number } = {},
): Promise<StoreServer> {
  const { minio } = await provision({ only: ["minio"] });
  const port = freePort();
  const s3 = {
    endpoint: `http://127.0.0.1:${port}`,
    accessKey: `validate${randomHex(4)}`,
    secretKey: randomHex(16),
    bucket: options.bucket ?? "telemetry",
  };
  const scratch = await Deno.makeTempDir({ prefix: "chaos-store-" });
  const node = new ProcessNode({
    name: "minio",
    cmd: minio,
    args: ["server", dataDir, "--address", `127.0.0.1:${port}`, "--quiet"],
    env: {
      MINIO_ROOT_USER: s3.accessKey,
      MINIO_ROOT_PASSWORD: s3.secretKey,
      MINIO_BROWSER: "off",
      MINIO_UPDATE: "off",
      MINIO_CALLHOME_ENABLE: "off",
    },
    logFile: join(scratch, "minio.log"),
    pidFile: join(scratch, "minio.pid"),
  });
  const stop = async () => {
    await node.kill().catch(() => {});
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  };
  await node.start();
  try {
    await waitFor(() => minioReady(s3.endpoint), {
      what: `MinIO over ${dataDir}`,
      timeoutMs: options.timeoutMs ?? 30_000,
    });
  } catch (error) {
    const tail = await node.tail(10);
    await stop();
    throw new EnvironmentError(`Cannot serve the kept store ${dataDir}: ${tail}`, { cause: error });
  }
  return { s3, stop };
}
