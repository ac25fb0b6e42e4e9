/**
 * A MinIO user limited to one bucket, made through MinIO's admin API with the root credentials:
 * what the harness gives the pipeline under test instead of its root keys, so that a pipeline
 * can read and write its bucket's objects and nothing else (not the bucket's settings, no other
 * bucket, no admin call). Three calls,
 * each signed with SigV4 (sigv4.ts): `add-canned-policy` (the policy below), `add-user` (its
 * secret encrypted with the root secret key, madmin_crypt.ts) and `set-user-or-group-policy`.
 *
 * ```ts
 * import { createBucketUser } from "./minio_users.ts";
 * const user = await createBucketUser(stack.endpoints.s3); // root keys and the bucket
 * // the pipeline gets user.accessKey and user.secretKey
 * ```
 * @module
 */

import type { Endpoints } from "../pipeline/endpoints.ts";
import { randomHex } from "../lib/ids.ts";
import { GiveUp, waitFor } from "../lib/wait.ts";
import { encryptData } from "./madmin_crypt.ts";
import { signRequest } from "./sigv4.ts";

/** Keys of a MinIO user. */
export interface S3Keys {
  accessKey: string;
  secretKey: string;
}

/** An admin call MinIO refused, with its status and what it said. */
export class MinioAdminError extends Error {
  override name = "MinioAdminError";
  constructor(message: string, readonly status: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** An IAM policy document. */
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: { Effect: "Allow" | "Deny"; Action: string[]; Resource: string[] }[];
}

/**
 * What the pipeline may do on its bucket: read, write, list and delete objects (multipart
 * uploads too). Nothing on the bucket itself (no policy, versioning, lifecycle, object lock,
 * notification, replication or deletion of the bucket, each of which would let a pipeline change
 * how the harness's reads see the store, or what outlives the run), no other bucket, no admin
 * action.
 */
export const PIPELINE_S3_ACTIONS = [
  "s3:GetBucketLocation",
  "s3:ListBucket",
  "s3:ListBucketMultipartUploads",
  "s3:GetObject",
  "s3:PutObject",
  "s3:DeleteObject",
  "s3:AbortMultipartUpload",
  "s3:ListMultipartUploadParts",
  // Harmless reads and object tags, which ordinary clients use (an upload with tags, a probe
  // of versioning): none changes what the harness reads of an object.
  "s3:GetBucketVersioning",
  "s3:ListBucketVersions",
  "s3:GetObjectVersion",
  "s3:GetObjectTagging",
  "s3:PutObjectTagging",
] as const;

/** `PIPELINE_S3_ACTIONS` on `bucket` and its objects; nothing else. */
export function bucketOnlyPolicy(bucket: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Action: [...PIPELINE_S3_ACTIONS],
      Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
    }],
  };
}

/** The policy's name in MinIO: one per bucket. */
export function policyName(bucket: string): string {
  return `bucket-only-${bucket}`;
}

/**
 * One call to MinIO's admin API (`/minio/admin/v3/<path>`) signed with `keys`; its answer's
 * text. A status other than 2xx is a MinioAdminError naming the call and MinIO's message.
 */
export async function adminCall(
  endpoint: string,
  keys: S3Keys,
  call: {
    method: "GET" | "PUT" | "POST" | "DELETE";
    path: string;
    query?: Record<string, string>;
    body?: Uint8Array;
    signal?: AbortSignal;
  },
): Promise<string> {
  const url = new URL(`/minio/admin/v3/${call.path}`, endpoint);
  for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
  const headers = await signRequest({ method: call.method, url, body: call.body }, keys);
  const response = await fetch(url, {
    method: call.method,
    headers,
    body: call.body as Uint8Array<ArrayBuffer> | undefined,
    signal: call.signal,
  });
  const text = await response.text();
  if (!response.ok) {
    let said = text.trim();
    try {
      const json = JSON.parse(text) as { Code?: string; Message?: string };
      if (json.Code) said = `${json.Code}: ${json.Message ?? ""}`;
    } catch { /* not JSON: the text as it is */ }
    throw new MinioAdminError(
      `MinIO at ${endpoint} refused ${call.method} ${call.path}: ${response.status} ${said}`,
      response.status,
    );
  }
  return text;
}

export interface BucketUserOptions {
  /** Default `pipeline` and 12 random hex digits. */
  accessKey?: string;
  /** Default 40 random hex digits. */
  secretKey?: string;
  /** How long MinIO may answer 503 (its IAM still starting). Default 30000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Creates on the MinIO of `root` (its endpoint, root keys and bucket) a user whose only policy is
 * `bucketOnlyPolicy(root.bucket)`, and returns its keys. Calls MinIO refuses with 503 (not ready
 * yet) are retried until `timeoutMs`; any other refusal is thrown at once (MinioAdminError).
 */
export async function createBucketUser(
  root: Endpoints["s3"],
  options: BucketUserOptions = {},
): Promise<S3Keys> {
  const user = {
    accessKey: options.accessKey ?? `pipeline${randomHex(6)}`,
    secretKey: options.secretKey ?? randomHex(20),
  };
  const keys = { accessKey: root.accessKey, secretKey: root.secretKey };
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const policy = policyName(root.bucket);
  const call = (c: Parameters<typeof adminCall>[2]) =>
    waitFor(async () => {
      try {
        return await adminCall(root.endpoint, keys, { ...c, signal: options.signal }) || true;
      } catch (error) {
        const final = error instanceof MinioAdminError && error.status !== 503;
        throw final ? new GiveUp(error.message, { cause: error }) : error;
      }
    }, {
      what: `MinIO's admin API (${c.path})`,
      timeoutMs: options.timeoutMs ?? 30_000,
      intervalMs: 500,
      signal: options.signal,
    }).catch((error) => {
      throw error instanceof GiveUp ? error.cause : error;
    });
  await call({
    method: "PUT",
    path: "add-canned-policy",
    query: { name: policy },
    body: encode(bucketOnlyPolicy(root.bucket)),
  });
  await call({
    method: "PUT",
    path: "add-user",
    query: { accessKey: user.accessKey },
    body: await encryptData(
      root.secretKey,
      encode({ secretKey: user.secretKey, status: "enabled" }),
    ),
  });
  await call({
    method: "PUT",
    path: "set-user-or-group-policy",
    query: { policyName: policy, userOrGroup: user.accessKey, isGroup: "false" },
  });
  return user;
}
