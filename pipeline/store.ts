/**
 * Object storage for the pipeline (MinIO or any S3): the client and the few
 * operations the parts need. Settings come from the environment or from the
 * running local stack: `S3_ENDPOINT`, `S3_ACCESS_KEY`, `S3_SECRET_KEY`,
 * `S3_BUCKET` (secrets never come from code).
 *
 * ```ts
 * import { objectStore } from "./store.ts";
 * const store = objectStore({ endpoint: "http://127.0.0.1:29010", accessKey, secretKey, bucket: "telemetry" });
 * await store.putText("ledger/r1/ledger.json", "{}", "application/json");
 * ```
 * @module
 */

import * as Minio from "minio";
import { type Endpoints, minioClientOptions } from "./endpoints.ts";

export type S3Settings = Endpoints["s3"];

export interface ObjectStore {
  readonly bucket: string;
  /** The settings it was made from (a worker makes its own client from them). */
  readonly s3: S3Settings;
  readonly client: Minio.Client;
  putBytes(
    key: string,
    body: Uint8Array,
    contentType: string,
    meta?: Record<string, string>,
  ): Promise<void>;
  putText(key: string, body: string, contentType: string): Promise<void>;
  /** The object's bytes; over `maxBytes` (its Content-Length), an error without reading it. */
  getBytes(key: string, maxBytes?: number): Promise<Uint8Array>;
  /**
   * Objects under `prefix`; `last_modified_ms`: the store's LastModified (epoch ms), `etag`: its
   * ETag (quotes removed), when given. None when the bucket does not exist.
   */
  list(
    prefix: string,
  ): Promise<{ name: string; size: number; last_modified_ms?: number; etag?: string }[]>;
}

export function objectStore(s3: S3Settings): ObjectStore {
  const client = new Minio.Client(minioClientOptions(s3));
  const bucket = s3.bucket;
  const store: ObjectStore = {
    bucket,
    s3,
    client,
    async putBytes(key, body, contentType, meta = {}) {
      // Signed locally without hashing the body (a presigned URL), sent by Deno's own HTTP
      // client: the sink's uploads cost about half the CPU of the client's putObject.
      const url = await client.presignedPutObject(bucket, key, 15 * 60);
      const response = await fetch(url, {
        method: "PUT",
        headers: { "Content-Type": contentType, ...meta },
        body: body as Uint8Array<ArrayBuffer>,
      });
      const text = await response.text();
      if (!response.ok) {
        const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP ${response.status}`;
        throw new Error(`put ${bucket}/${key}: ${code}`);
      }
    },
    async putText(key, body, contentType) {
      await store.putBytes(key, new TextEncoder().encode(body), contentType);
    },
    async getBytes(key, maxBytes) {
      // Signed locally (the region is set, so no request), fetched by Deno's own HTTP client:
      // about 1.3x the objects/s of the client's getObject stream through the node:http layer.
      // The stored bytes, as stored: fetch would gunzip an object uploaded with
      // Content-Encoding gzip (as the sink's are), so the answer's encoding is overridden.
      const url = await client.presignedGetObject(bucket, key, 15 * 60, {
        "response-content-encoding": "identity",
      });
      const response = await fetch(url);
      if (!response.ok) {
        const text = await response.text();
        const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP ${response.status}`;
        throw new Error(`get ${bucket}/${key}: ${code}`);
      }
      const length = Number(response.headers.get("content-length") ?? 0);
      if (maxBytes !== undefined && length > maxBytes) {
        await response.body?.cancel();
        throw new Error(`get ${bucket}/${key}: ${length} bytes, over ${maxBytes}`);
      }
      return new Uint8Array(await response.arrayBuffer());
    },
    async list(prefix) {
      const out: { name: string; size: number; last_modified_ms?: number; etag?: string }[] = [];
      try {
        const stream = client.listObjectsV2(bucket, prefix, true);
        for await (const item of stream) {
          const o = item as { name?: string; size?: number; lastModified?: Date; etag?: string };
          const at = o.lastModified?.getTime();
          const etag = typeof o.etag === "string" ? o.etag.replace(/"/g, "") : undefined;
          if (o.name) out.push({ name: o.name, size: o.size ?? 0, last_modified_ms: at, etag });
        }
      } catch (error) {
        // A bucket that is gone (MinIO after a power loss that undid its creation) holds nothing:
        // an empty listing, which whoever reads it judges (every event in it is then missing).
        if ((error as { code?: string }).code !== "NoSuchBucket") throw error;
      }
      return out;
    },
  };
  return store;
}

/** S3 settings from `S3_*` environment variables, when all are set. */
export function s3FromEnv(
  env: Record<string, string> = Deno.env.toObject(),
): S3Settings | undefined {
  const { S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY } = env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY || !S3_SECRET_KEY) return undefined;
  return {
    endpoint: S3_ENDPOINT,
    accessKey: S3_ACCESS_KEY,
    secretKey: S3_SECRET_KEY,
    bucket: env.S3_BUCKET ?? "telemetry",
  };
}
