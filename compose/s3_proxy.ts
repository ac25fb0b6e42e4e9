/**
 * The S3 proxy of the local stack: an HTTP-aware proxy between the pipeline
 * and MinIO (compose/s3_proxy_server.ts runs it as a stack process, `s3proxy`,
 * on the port plan's `s3Proxy`), always in the path of the pipeline's S3
 * traffic and passing it through untouched until told to misbehave. The
 * harness itself (validator, ledger, seal, store check) talks to MinIO
 * directly. This module holds what the proxy and the `s3_fault` fault share:
 * the misbehaviours, the S3 error answers, the share decision, the HTTP/1.1
 * framing the proxy reads, and the client of its control API.
 *
 * Misbehaviours (`mode`), each on a `share` of the requests whose method is in
 * `methods`: `error_500` (answers 500 InternalError), `slowdown` (503
 * SlowDown), `stall` (holds the request `stall_ms` before forwarding it),
 * `reset` (cuts the connection mid-body), `lost_answer` (forwards the request,
 * MinIO stores it, and the answer is dropped: the client sees a failure for a
 * write that happened).
 *
 * Given the run's store (`store`: its bucket and topic), a misbehaviour acts
 * only on real writes to it: a PUT or POST of an object whose key is a batch
 * key of the topic (`events/` or `dlq/`, the contract's layout:
 * validate/layout.ts), multipart parts included. Junk writes to other keys or
 * another bucket, HEADs and reads pass untouched and count for nothing: a
 * sink cannot spend a fault on decoys, nor inflate its evidence with them.
 * A request is read every way MinIO may read it (path style whatever Host
 * says, decoded), and a POST Object form or a snowball auto-extract PUT to the
 * bucket is a write whatever its key (the keys are in the body); a request
 * head or chunk the proxy and MinIO could frame apart is refused, so no write
 * rides unseen in a decoy's body (`requestHeadProblem`, `chunkLineProblem`).
 *
 * SigV4 stays valid: the client signs for the host it talks to (the proxy),
 * and the proxy forwards the request's head and body byte for byte, `Host`
 * included, which is what MinIO checks the signature against.
 *
 * ```ts
 * import { S3ProxyControl } from "./s3_proxy.ts";
 * const proxy = new S3ProxyControl("http://127.0.0.1:29013");
 * await proxy.set({ mode: "slowdown", share: 0.5, methods: ["PUT"] });
 * (await proxy.state()).counts.slowdown; // answers 503 SlowDown so far
 * await proxy.clear();
 * ```
 * @module
 */

import { join } from "node:path";
import { repoRoot } from "./paths.ts";
import type { PortPlan } from "./ports.ts";
import type { ProcessSpec } from "./process_node.ts";
import { parseBatchKey } from "../pipeline/batcher.ts";

/** The proxy's node name in the local stack. */
export const S3_PROXY_NODE = "s3proxy";

export const S3_PROXY_MODES = ["error_500", "slowdown", "stall", "reset", "lost_answer"] as const;
export type S3ProxyMode = typeof S3_PROXY_MODES[number];

export const S3_METHODS = ["GET", "PUT", "DELETE", "POST", "HEAD"] as const;
export type S3Method = typeof S3_METHODS[number];

/** What the proxy does to which requests. */
export interface S3Misbehaviour {
  mode: S3ProxyMode;
  /** The probability that a request of `methods` is acted on, 0..1. */
  share: number;
  methods: readonly S3Method[];
  /** `stall` only: how long a request is held. */
  stall_ms?: number;
  /** Only real writes to this store (default: every request of `methods`). */
  store?: S3Store;
}

/** The run's store: its bucket, and the topic whose batch keys are its objects (any: no topic). */
export interface S3Store {
  bucket: string;
  topic?: string;
}

/** What the proxy did since it started. */
export interface S3ProxyCounts {
  /** Requests read from clients. */
  seen: number;
  /** Answered 500 InternalError instead of forwarded. */
  error_500: number;
  /** Answered 503 SlowDown instead of forwarded. */
  slowdown: number;
  /** Held `stall_ms`, then forwarded. */
  stalled: number;
  /** Connections cut mid-body. */
  reset: number;
  /** Forwarded, stored (MinIO answered 2xx), and the answer dropped. */
  lost_answer: number;
  /**
   * Requests a misbehaviour could act on: real writes to its store (without a store, every
   * request of its methods); decoys are not counted.
   */
  store_writes: number;
  /** The distinct object keys acted on, per mode set (a write retried to one key counts once). */
  struck_keys: number;
}

export const NO_COUNTS: S3ProxyCounts = {
  seen: 0,
  error_500: 0,
  slowdown: 0,
  stalled: 0,
  reset: 0,
  lost_answer: 0,
  store_writes: 0,
  struck_keys: 0,
};

/** The count that says a mode had an effect. */
export const EFFECT_COUNT: Record<S3ProxyMode, keyof S3ProxyCounts> = {
  error_500: "error_500",
  slowdown: "slowdown",
  stall: "stalled",
  reset: "reset",
  lost_answer: "lost_answer",
};

/** What the control API answers: the misbehaviour in force (null: passing through) and counts. */
export interface S3ProxyState {
  mode: S3Misbehaviour | null;
  counts: S3ProxyCounts;
}

/** A misbehaviour the proxy cannot take, or its control API failing. */
export class S3ProxyError extends Error {
  override name = "S3ProxyError";
}

/** The pipeline's S3 proxy of a stack: its S3 endpoint and its control API. */
export interface S3ProxyEndpoints {
  endpoint: string;
  control: string;
}

/**
 * A misbehaviour from the control API's JSON, checked (the fault's params schema is the first
 * check; this keeps a hand-made request from confusing the proxy).
 */
export function parseMisbehaviour(raw: unknown): S3Misbehaviour {
  const o = raw as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null) throw new S3ProxyError("expected a JSON object");
  const unknownKeys = Object.keys(o).filter((k) =>
    !["mode", "share", "methods", "stall_ms", "store"].includes(k)
  );
  if (unknownKeys.length) throw new S3ProxyError(`unknown keys: ${unknownKeys.join(", ")}`);
  const mode = o.mode as S3ProxyMode;
  if (!S3_PROXY_MODES.includes(mode)) {
    throw new S3ProxyError(`mode must be one of ${S3_PROXY_MODES.join(", ")}, got ${o.mode}`);
  }
  const share = o.share ?? 1;
  if (typeof share !== "number" || !(share >= 0 && share <= 1)) {
    throw new S3ProxyError(`share must be a number from 0 to 1, got ${JSON.stringify(o.share)}`);
  }
  const methods = o.methods ?? ["PUT"];
  if (
    !Array.isArray(methods) || methods.length === 0 ||
    !methods.every((m) => S3_METHODS.includes(m))
  ) {
    throw new S3ProxyError(
      `methods must be a list of ${S3_METHODS.join("/")}, got ${JSON.stringify(o.methods)}`,
    );
  }
  const stall = o.stall_ms;
  if (mode === "stall") {
    if (typeof stall !== "number" || !Number.isInteger(stall) || stall < 0) {
      throw new S3ProxyError(`stall needs stall_ms, whole ms, got ${JSON.stringify(stall)}`);
    }
  } else if (stall !== undefined) {
    throw new S3ProxyError(`stall_ms applies to mode stall only, not ${mode}`);
  }
  const store = o.store as S3Store | undefined;
  if (
    store !== undefined &&
    (typeof store !== "object" || store === null || typeof store.bucket !== "string" ||
      !store.bucket ||
      (store.topic !== undefined && (typeof store.topic !== "string" || !store.topic)))
  ) {
    throw new S3ProxyError(`store must be {bucket, topic?}, got ${JSON.stringify(o.store)}`);
  }
  return {
    mode,
    share,
    methods,
    ...(mode === "stall" ? { stall_ms: stall as number } : {}),
    ...(store
      ? { store: { bucket: store.bucket, ...(store.topic ? { topic: store.topic } : {}) } }
      : {}),
  };
}

/** A request as the proxy reads it: method, target (path and query), Host and Content-Type. */
export interface S3Request {
  method: string;
  path: string;
  host?: string;
  contentType?: string;
  /** Its `X-Amz-Snowball-Auto-Extract` header: MinIO then stores each file of a tar body. */
  extract?: string;
}

/**
 * A key as a store may hold it: empty, `.` and `..` segments resolved away. MinIO refuses most
 * such names; reading them as the key they resolve to only ever strikes more, never less.
 */
function normalKey(key: string): string {
  const out: string[] = [];
  for (const seg of key.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return out.join("/");
}

/**
 * Where a request points in `bucket`, every way a server may read it (the path decoded, slashes
 * collapsed): path style (`/<bucket>/<key>`, what a MinIO without a domain reads whatever the
 * Host says) and, when Host starts with `<bucket>.`, virtual-host style (`/<key>`). `keys` are
 * the object keys it names ("" for the bucket itself); empty: not in `bucket`, or no decoding.
 */
function readings(req: S3Request, bucket: string): { keys: string[]; virtual?: string } {
  let path = req.path.split("?")[0];
  try {
    if (/^https?:\/\//i.test(path)) path = new URL(path).pathname; // absolute form
    path = decodeURIComponent(path);
  } catch {
    return { keys: [] };
  }
  const keys: string[] = [];
  const segments = path.split("/").filter(Boolean);
  if (segments[0] === bucket) keys.push(normalKey(segments.slice(1).join("/")));
  let virtual: string | undefined;
  if ((req.host ?? "").toLowerCase().startsWith(`${bucket.toLowerCase()}.`)) {
    virtual = normalKey(path);
    keys.push(virtual);
  }
  return { keys, virtual };
}

/**
 * The object key a request names in `bucket`, decoded: virtual host style (`Host:
 * <bucket>.<endpoint>`, `/<key>`) when Host says so, else path style (`/<bucket>/<key>`).
 * Undefined: another bucket, the bucket itself (a listing), or a key that does not decode.
 */
export function objectKey(req: S3Request, bucket: string): string | undefined {
  const { keys, virtual } = readings(req, bucket);
  const key = virtual || keys.find(Boolean);
  return key || undefined;
}

/**
 * Whether a request writes objects whose keys are in its body: a POST Object upload (an HTML
 * form), or a PUT MinIO auto-extracts (`X-Amz-Snowball-Auto-Extract` matching `true`: every file
 * of the tar is stored under its own name, whatever key the PUT names).
 */
function writesKeysOfItsBody(req: S3Request): boolean {
  const media = (req.contentType ?? "").split(";")[0].trim().toLowerCase();
  if (req.method === "POST" && media === "multipart/form-data") return true;
  return req.method === "PUT" && /true/i.test(req.extract ?? "");
}

/**
 * The sub-resources of an object that a PUT or POST to its key acts on instead of its bytes (the
 * server dispatches on the query parameter's name, whatever its value): tags, retention, legal
 * hold, ACL, restore, select. Such a request writes no object.
 */
export const OBJECT_SUB_RESOURCES = [
  "tagging",
  "retention",
  "legal-hold",
  "acl",
  "torrent",
  "restore",
  "select",
  "attributes",
] as const;

/** The names of the request's query parameters, decoded as a server decodes them. */
function queryNames(req: S3Request): string[] {
  const at = req.path.indexOf("?");
  if (at < 0) return [];
  return req.path.slice(at + 1).split("&").filter(Boolean).map((part) => {
    const name = part.split("=")[0].replace(/\+/g, " ");
    try {
      return decodeURIComponent(name);
    } catch {
      return name;
    }
  });
}

/**
 * Whether the request writes an object's bytes by its method and query: a PUT that names none of
 * OBJECT_SUB_RESOURCES (an upload, a multipart part), or a POST that starts (`?uploads`) or
 * completes (`?uploadId=`) a multipart upload.
 */
function writesBytes(req: S3Request): boolean {
  const names = queryNames(req);
  if (names.some((n) => (OBJECT_SUB_RESOURCES as readonly string[]).includes(n))) return false;
  return req.method === "PUT" || names.includes("uploads") || names.includes("uploadId");
}

/**
 * Whether a request is a real write to `store`: a PUT or POST (an upload, a multipart part, its
 * start or completion; not a PUT or POST of a sub-resource such as `?tagging`, `?retention`,
 * `?acl`, `?legal-hold`) of a batch key of the store's topic in its bucket, read every way a
 * server may read it (path or virtual-host style, decoded, slashes collapsed), or a POST Object
 * form upload or a snowball auto-extract PUT to the bucket (their keys are in the body: they
 * count whatever the key).
 */
export function isStoreWrite(req: S3Request, store: S3Store): boolean {
  if (req.method !== "PUT" && req.method !== "POST") return false;
  const { keys } = readings(req, store.bucket);
  if (keys.length && writesKeysOfItsBody(req)) return true;
  if (!writesBytes(req)) return false;
  return keys.some((key) => {
    const batch = parseBatchKey(key);
    if (!batch || (store.topic !== undefined && batch.topic !== store.topic)) return false;
    return key.endsWith(batch.kind === "events" ? ".ndjson.gz" : ".jsonl.gz");
  });
}

/** Whether the misbehaviour may act on `req` at all: its method, and the store's real writes. */
export function eligible(m: S3Misbehaviour | null, req: S3Request): boolean {
  if (!m || !(m.methods as readonly string[]).includes(req.method)) return false;
  return !m.store || isStoreWrite(req, m.store);
}

/**
 * Whether the misbehaviour acts on `req` (or a request of method `req`): it is `eligible` and
 * `random` (uniform in [0, 1)) falls below `share`.
 */
export function strikes(
  m: S3Misbehaviour | null,
  req: S3Request | string,
  random: number,
): boolean {
  const r = typeof req === "string" ? { method: req, path: "/" } : req;
  return eligible(m, r) && random < m!.share;
}

/** Escapes text for an XML element. */
function xmlText(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** An S3 error document, as S3 and MinIO write it. */
export function s3ErrorXml(
  code: string,
  message: string,
  resource: string,
  requestId: string,
): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlText(code)}</Code>` +
    `<Message>${xmlText(message)}</Message><Resource>${xmlText(resource)}</Resource>` +
    `<RequestId>${xmlText(requestId)}</RequestId></Error>`;
}

/** The error answers of the modes that answer instead of forwarding. */
export const S3_ERRORS = {
  error_500: {
    status: 500,
    reason: "Internal Server Error",
    code: "InternalError",
    message: "We encountered an internal error, please try again.",
  },
  slowdown: {
    status: 503,
    reason: "Service Unavailable",
    code: "SlowDown",
    message: "Please reduce your request rate.",
  },
} as const;

/**
 * A whole HTTP/1.1 answer with an S3 error body for `path` (no body for HEAD, as S3 does),
 * keeping the connection open unless `close`.
 */
export function s3ErrorResponse(
  which: keyof typeof S3_ERRORS,
  request: { method: string; path: string },
  requestId: string,
  close = false,
): Uint8Array {
  const e = S3_ERRORS[which];
  const body = s3ErrorXml(e.code, e.message, request.path.split("?")[0], requestId);
  const bytes = new TextEncoder().encode(body);
  const head = [
    `HTTP/1.1 ${e.status} ${e.reason}`,
    "Content-Type: application/xml",
    `Content-Length: ${bytes.length}`,
    `x-amz-request-id: ${requestId}`,
    ...(which === "slowdown" ? ["Retry-After: 1"] : []),
    `Connection: ${close ? "close" : "keep-alive"}`,
    "",
    "",
  ].join("\r\n");
  const out = new TextEncoder().encode(head);
  if (request.method === "HEAD") return out;
  const all = new Uint8Array(out.length + bytes.length);
  all.set(out);
  all.set(bytes, out.length);
  return all;
}

/** A request's or an answer's head: its first line split, its headers (names lower-cased). */
export interface HttpHead {
  /** Request: method, target, version. Answer: version, status, reason. */
  first: [string, string, string];
  headers: Map<string, string>;
}

/** Parses an HTTP/1.x head (the bytes up to and including the blank line). */
export function parseHead(bytes: Uint8Array): HttpHead {
  const text = new TextDecoder("latin1").decode(bytes);
  const lines = text.split("\r\n");
  const m = /^(\S+) (\S+)(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new S3ProxyError(`not an HTTP head: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const at = line.indexOf(":");
    if (at <= 0) throw new S3ProxyError(`bad header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, at).trim().toLowerCase();
    const value = line.slice(at + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { first: [m[1], m[2], m[3] ?? ""], headers };
}

/** Whether `s` holds a control byte other than HTAB (no field value may). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * A field name (lower case) MinIO keeps for itself: replication between its own servers sets an
 * object's modification time and ETag with them, and MinIO honours them from any client that may
 * write the object (checked against MinIO of 2026-02: a bucket user's plain PUT with
 * `X-Minio-Source-Mtime` stored a LastModified of its choosing).
 */
export function minioHeader(name: string): boolean {
  return name.startsWith("x-minio-");
}

/** An HTTP token (RFC 9110 §5.6.2): a method or a field name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Why a client's request head (its bytes, up to and with the blank line) cannot be forwarded, or
 * undefined. The proxy must frame a request exactly as MinIO does, or a request hidden in what
 * it takes for a body (or a trailer) reaches MinIO unseen, and a sink dodges every fault with it
 * (request smuggling): so whatever two HTTP parsers may read apart is refused. A bare CR or LF
 * (Go ends lines at a bare LF), a folded line, a field name that is no token, a control byte in a
 * value, more than one Content-Length or Transfer-Encoding, a Content-Length that is not digits,
 * a Transfer-Encoding other than `chunked`, on HTTP/1.0 (Go ignores it there) or beside a
 * Content-Length, a version other than HTTP/1.0 and HTTP/1.1, an Upgrade to another protocol.
 * Also a MinIO-internal header (`X-Minio-*`, `minioHeader`): with them a client sets what MinIO
 * records of an object (`X-Minio-Source-Mtime` its LastModified, `X-Minio-Source-Etag` its ETag),
 * which the harness dates and fingerprints the store by.
 */
export function requestHeadProblem(raw: Uint8Array): string | undefined {
  const text = new TextDecoder("latin1").decode(raw);
  if (/\r(?!\n)|(?<!\r)\n/.test(text)) return "a bare CR or LF in the head";
  const lines = text.split("\r\n");
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  const first = /^(\S+) (\S+) (\S+)$/.exec(lines[0] ?? "");
  if (!first || !TOKEN.test(first[1])) return "not a request line";
  const version = first[3];
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") return `version ${version}`;
  const seen = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    if (/^[ \t]/.test(line)) return "a folded header line";
    const at = line.indexOf(":");
    if (at <= 0 || !TOKEN.test(line.slice(0, at))) return "a header name that is no token";
    const value = line.slice(at + 1).trim();
    if (hasControl(value)) return "a control byte in a header value";
    const name = line.slice(0, at).toLowerCase();
    if (minioHeader(name)) return `a MinIO-internal header (${line.slice(0, at)})`;
    seen.set(name, [...(seen.get(name) ?? []), value]);
  }
  const lengths = seen.get("content-length") ?? [];
  const encodings = seen.get("transfer-encoding") ?? [];
  if (lengths.length > 1) return "more than one Content-Length";
  if (lengths.length && !/^\d{1,15}$/.test(lengths[0])) return `Content-Length ${lengths[0]}`;
  if (encodings.length > 1) return "more than one Transfer-Encoding";
  // A protocol switch (h2c, websocket) would carry requests the proxy cannot read.
  if (seen.has("upgrade")) return "an Upgrade header";
  if (encodings.length) {
    if (encodings[0].toLowerCase() !== "chunked") return `Transfer-Encoding ${encodings[0]}`;
    if (version !== "HTTP/1.1") return `Transfer-Encoding on ${version}`;
    if (lengths.length) return "both Content-Length and Transfer-Encoding";
  }
  return undefined;
}

/**
 * Why a line of a request's chunked body (its bytes with their CRLF) cannot be forwarded, or
 * undefined: `size` a chunk-size line (hex digits, an extension), `trailer` a trailer field or the
 * blank line that ends them, `end` the CRLF after a chunk's data.
 */
export function chunkLineProblem(
  line: Uint8Array,
  kind: "size" | "trailer" | "end",
): string | undefined {
  const text = new TextDecoder("latin1").decode(line);
  if (!text.endsWith("\r\n") || /[\r\n]/.test(text.slice(0, -2))) {
    return "a bare CR or LF in a chunk line";
  }
  const body = text.slice(0, -2);
  if (kind === "end") return body === "" ? undefined : "chunk data longer than its size";
  if (kind === "size") {
    return /^[0-9A-Fa-f]{1,12}(;[\x20-\x7e\t]*)?$/.test(body) ? undefined : "a bad chunk size";
  }
  if (body === "") return undefined;
  const at = body.indexOf(":");
  if (at <= 0 || !TOKEN.test(body.slice(0, at))) return "a bad trailer line";
  if (minioHeader(body.slice(0, at).toLowerCase())) {
    return `a MinIO-internal trailer (${body.slice(0, at)})`;
  }
  return hasControl(body) ? "a control byte in a trailer" : undefined;
}

/** How a message's body is delimited: none, a length, chunks, or the end of the connection. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

function lengthOf(head: HttpHead): Framing | undefined {
  if (/chunked/i.test(head.headers.get("transfer-encoding") ?? "")) return { kind: "chunked" };
  const raw = head.headers.get("content-length");
  if (raw === undefined) return undefined;
  const length = Number(raw.split(",")[0]);
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new S3ProxyError(`bad Content-Length: ${raw}`);
  }
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

/** A request's body: chunked, Content-Length, or none. */
export function requestFraming(head: HttpHead): Framing {
  return lengthOf(head) ?? { kind: "none" };
}

/** An answer's body to a `method` request (RFC 9112 §6.3). */
export function responseFraming(head: HttpHead, method: string): Framing {
  const status = Number(head.first[1]);
  if (method === "HEAD" || (status >= 100 && status < 200) || status === 204 || status === 304) {
    return { kind: "none" };
  }
  return lengthOf(head) ?? { kind: "close" };
}

/** Whether the message asks to close the connection after it (or is HTTP/1.0 without keep-alive). */
export function wantsClose(head: HttpHead, version: string): boolean {
  const c = (head.headers.get("connection") ?? "").toLowerCase();
  if (c.includes("close")) return true;
  return version === "HTTP/1.0" && !c.includes("keep-alive");
}

/** The client of a running proxy's control API (`control`: its base URL). */
export class S3ProxyControl {
  constructor(readonly control: string) {}

  async #call(method: string, body?: unknown): Promise<S3ProxyState> {
    let response: Response;
    try {
      response = await fetch(`${this.control}/`, {
        method,
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(5000),
      });
    } catch (error) {
      throw new S3ProxyError(`the S3 proxy's control API (${this.control}) did not answer`, {
        cause: error,
      });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new S3ProxyError(`the S3 proxy refused ${method}: ${response.status} ${text}`);
    }
    return JSON.parse(text) as S3ProxyState;
  }

  /** The misbehaviour in force and the counts so far. */
  state(): Promise<S3ProxyState> {
    return this.#call("GET");
  }

  /** Sets the misbehaviour (replacing any). */
  set(m: S3Misbehaviour): Promise<S3ProxyState> {
    return this.#call("PUT", m);
  }

  /** Passes everything through again. */
  clear(): Promise<S3ProxyState> {
    return this.#call("DELETE");
  }
}

/** `after - before`, count by count. */
export function countsSince(before: S3ProxyCounts, after: S3ProxyCounts): S3ProxyCounts {
  const out = { ...NO_COUNTS };
  for (const k of Object.keys(NO_COUNTS) as (keyof S3ProxyCounts)[]) {
    out[k] = (after[k] ?? 0) - (before[k] ?? 0);
  }
  return out;
}

/** The proxy's endpoints on a stack of port plan `plan`. */
export function s3ProxyEndpoints(plan: PortPlan): S3ProxyEndpoints {
  return {
    endpoint: `http://127.0.0.1:${plan.s3Proxy}`,
    control: `http://127.0.0.1:${plan.s3ProxyControl}`,
  };
}

/**
 * The stack's `s3proxy` node: this Deno running s3_proxy_server.ts, network only, on the host's
 * loopback; MinIO at `upstreamHost` (default 127.0.0.1; the docker stack: MinIO's container).
 */
export function s3ProxySpec(
  plan: PortPlan,
  dataDir: string,
  options: { upstreamHost?: string } = {},
): ProcessSpec {
  const upstream = options.upstreamHost ?? "127.0.0.1";
  return {
    name: S3_PROXY_NODE,
    cmd: Deno.execPath(),
    args: [
      "run",
      `--allow-net=${[...new Set(["127.0.0.1", upstream])].join(",")}`,
      "--no-prompt",
      join(repoRoot, "compose", "s3_proxy_server.ts"),
      ...["--listen", String(plan.s3Proxy), "--upstream", String(plan.minio)],
      ...(upstream === "127.0.0.1" ? [] : ["--upstream-host", upstream]),
      ...["--control", String(plan.s3ProxyControl)],
    ],
    cwd: dataDir,
    logFile: join(dataDir, "logs", `${S3_PROXY_NODE}.log`),
    pidFile: join(dataDir, "pids", `${S3_PROXY_NODE}.pid`),
  };
}

/** Whether the proxy's control API answers. */
export async function s3ProxyUp(control: string): Promise<boolean> {
  try {
    await new S3ProxyControl(control).state();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the pipeline's S3 traffic goes through the proxy on a new local stack: yes unless
 * `CHAOS_S3_PROXY=off` (to measure what it costs; `s3_fault` cannot act then).
 */
export function s3ProxyWanted(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): boolean {
  return env("CHAOS_S3_PROXY") !== "off";
}
