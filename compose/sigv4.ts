/**
 * AWS Signature Version 4 for one HTTP request, with WebCrypto only: what MinIO's admin API
 * (`/minio/admin/v3/...`) wants of every call. The payload's SHA-256 is signed
 * (`x-amz-content-sha256`), the headers signed are `host`, `x-amz-content-sha256`,
 * `x-amz-date` and any the caller adds.
 *
 * ```ts
 * import { signRequest } from "./sigv4.ts";
 * const url = "http://127.0.0.1:29010/minio/admin/v3/info";
 * const headers = await signRequest({ method: "GET", url }, { accessKey, secretKey });
 * await fetch(url, { headers });
 * ```
 * @module
 */

const encoder = new TextEncoder();

/** The keys a request is signed with, and where (MinIO: region `us-east-1`, service `s3`). */
export interface SigningKeys {
  accessKey: string;
  secretKey: string;
  /** Default "us-east-1". */
  region?: string;
  /** Default "s3". */
  service?: string;
}

/** One request to sign. */
export interface UnsignedRequest {
  method: string;
  url: string | URL;
  /** Headers to sign and send besides the three always signed. */
  headers?: Record<string, string>;
  /** Default: none (the hash of the empty payload). */
  body?: Uint8Array;
  /** The signing time. Default: now. */
  date?: Date;
}

/** Lower-case hex of `bytes`. */
export function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex SHA-256 of `data` (a string is hashed as UTF-8). */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

async function hmac(key: Uint8Array, data: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(data)));
}

/** RFC 3986 encoding of one URI component, as SigV4 wants it (`A-Za-z0-9-_.~` kept). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The canonical query string: every pair encoded, sorted by key, then value. */
export function canonicalQuery(params: URLSearchParams): string {
  return [...params].map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([ak, av], [bk, bv]) => ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0)
    .map(([k, v]) => `${k}=${v}`).join("&");
}

/** `20150830T123600Z` of `date`. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * The canonical request of SigV4: method, path (each segment encoded once, as S3 wants),
 * query, headers (lower-cased names, trimmed values, sorted), the signed header names and the
 * payload's hash.
 */
export function canonicalRequest(
  method: string,
  url: URL,
  headers: Record<string, string>,
  payloadHash: string,
): { text: string; signed: string } {
  const path = url.pathname.split("/").map((s) => uriEncode(decodeURIComponent(s))).join("/");
  const entries = Object.entries(headers)
    .map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, " ")])
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  const signed = entries.map(([k]) => k).join(";");
  const text = [
    method.toUpperCase(),
    path || "/",
    canonicalQuery(url.searchParams),
    ...entries.map(([k, v]) => `${k}:${v}`),
    "",
    signed,
    payloadHash,
  ].join("\n");
  return { text, signed };
}

/**
 * The headers that sign `request` with `keys`: the caller's, `host`, `x-amz-date`,
 * `x-amz-content-sha256` and `authorization`. Send them as they are (fetch sets the same host).
 */
export async function signRequest(
  request: UnsignedRequest,
  keys: SigningKeys,
): Promise<Record<string, string>> {
  const url = new URL(request.url);
  const region = keys.region ?? "us-east-1";
  const service = keys.service ?? "s3";
  const stamp = amzDate(request.date ?? new Date());
  const day = stamp.slice(0, 8);
  const payloadHash = await sha256Hex(request.body ?? new Uint8Array());
  const headers: Record<string, string> = {
    ...request.headers,
    host: url.host,
    "x-amz-date": stamp,
    "x-amz-content-sha256": payloadHash,
  };
  const { text, signed } = canonicalRequest(request.method, url, headers, payloadHash);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", stamp, scope, await sha256Hex(text)].join("\n");
  let key: Uint8Array = encoder.encode(`AWS4${keys.secretKey}`);
  for (const part of [day, region, service, "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${keys.accessKey}/${scope}, ` +
    `SignedHeaders=${signed}, Signature=${signature}`;
  return headers;
}
