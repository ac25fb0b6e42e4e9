/**
 * The run folder's seal: `seal.json`, written when a run ends, holds a manifest
 * of every file of the run folder (path, size, SHA-256), the store's object
 * list (name, size, ETag) as the run's judge listed it (chaos/run_context.ts:
 * not a later listing, which a pipeline still running could have changed),
 * the run id, the webhook secret (AES-256-GCM under a key derived from the
 * harness's key and the run id, so that signatures can be verified again from
 * the raw bodies) and an HMAC-SHA-256 tag over all of it under
 * `deriveKey(key, "seal", run_id)`. The harness's key (lib/harness_key.ts) is
 * never in a run folder: whoever edits, adds or removes a file cannot make a
 * seal that checks.
 *
 * Not sealed: `seal.json` itself and `stack/` (the store's data kept for the
 * re-check, which the sealed object list covers, and the stack's own logs).
 *
 * `checkSeal` names every file that changed, appeared or went; a seal made
 * with another key shows as `fingerprintOk: false` (its key id is not this
 * key's), a seal that is missing or was edited as `seal.json` missing or
 * altered.
 *
 * ```ts
 * import { checkSeal, sealRunFolder } from "./seal.ts";
 * await sealRunFolder(dir, key, { runId, store: { bucket, prefixes, objects }, webhookSecret });
 * const check = await checkSeal(dir, key);
 * check.ok; // false: check.altered, check.added, check.missing name the files
 * ```
 * @module
 */

import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { deriveKey, hmacHex } from "../lib/harness_key.ts";

export const SEAL_FILE = "seal.json";
/**
 * results.json's `schema_version` from which every run folder is sealed: a folder of that
 * version or newer without `seal.json` was tampered with.
 */
export const SEALED_SINCE_SCHEMA = 2;
/** The seal's own format. */
export const SEAL_FORMAT = 1;
/** Top-level entries of a run folder that are not sealed (the kept store and stack logs). */
export const UNSEALED = new Set([SEAL_FILE, "stack"]);
/** A seal.json longer than this is not one (read no further). */
const MAX_SEAL_BYTES = 256 * 1024 * 1024;

/** One sealed file: its path in the run folder ("/"-separated), size and SHA-256 (hex). */
export interface SealedFile {
  path: string;
  size: number;
  sha256: string;
}

/** One object of the store as the run's judge listed it. */
export interface SealedObject {
  name: string;
  size: number;
  etag: string | null;
}

/** The store's objects under the run's prefixes, as the run's judge listed them. */
export interface SealedStore {
  bucket: string;
  prefixes: string[];
  objects: SealedObject[];
}

/** A secret encrypted with AES-256-GCM (hex fields). */
export interface SecretBox {
  alg: "AES-256-GCM";
  iv: string;
  tag: string;
  data: string;
}

/** seal.json. */
export interface Seal {
  format: number;
  run_id: string;
  /** The harness key's fingerprint (`keyId`). */
  key_id: string;
  sealed_at: string;
  files: SealedFile[];
  store: SealedStore | null;
  webhook_secret: SecretBox | null;
  /** HMAC-SHA-256 of the canonical seal without `tag`, under `deriveKey(key, "seal", run_id)`. */
  tag: string;
}

/** What the caller adds to the files' manifest. */
export interface SealExtra {
  runId: string;
  /** The store's objects as the re-check reads them (null: the run had none to list). */
  store?: SealedStore | null;
  /** The webhook secret the run's receiver checked signatures with. */
  webhookSecret?: string | null;
}

/** The result of checking a run folder's seal. */
export interface SealCheck {
  /** Whether the folder's files are exactly the sealed ones, under this key. */
  ok: boolean;
  /** The seal was made with this key (false: nothing else could be checked). */
  fingerprintOk: boolean;
  altered: string[];
  added: string[];
  missing: string[];
  /** What the seal holds, only when it verifies (else null). */
  runId: string | null;
  store: SealedStore | null;
  webhookSecret: string | null;
}

/** A seal that cannot be made (an unreadable file in the run folder). */
export class SealError extends Error {
  override name = "SealError";
}

/** The key's fingerprint, as seal.json names it: not the key, and the same for every run. */
export function keyId(key: Uint8Array): string {
  return hmacHex(deriveKey(key, "key-id"), "").slice(0, 16);
}

/** JSON with the keys of every object sorted: the bytes the tag covers. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** The tag of a seal (every field but `tag`). */
export function sealTag(key: Uint8Array, seal: Omit<Seal, "tag">): string {
  const { tag: _, ...fields } = seal as Seal;
  return hmacHex(deriveKey(key, "seal", seal.run_id), canonicalJson(fields));
}

/** `secret` encrypted under `deriveKey(key, "webhook-secret", runId)`, the run id authenticated. */
export function encryptSecret(key: Uint8Array, runId: string, secret: string): SecretBox {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", deriveKey(key, "webhook-secret", runId), iv);
  cipher.setAAD(new TextEncoder().encode(runId));
  const data = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return {
    alg: "AES-256-GCM",
    iv: iv.toString("hex"),
    tag: cipher.getAuthTag().toString("hex"),
    data: data.toString("hex"),
  };
}

/** The secret of `box`; throws when it was not made with this key and run id. */
export function decryptSecret(key: Uint8Array, runId: string, box: SecretBox): string {
  const decipher = createDecipheriv(
    "aes-256-gcm",
    deriveKey(key, "webhook-secret", runId),
    Buffer.from(box.iv, "hex"),
  );
  decipher.setAAD(new TextEncoder().encode(runId));
  decipher.setAuthTag(Buffer.from(box.tag, "hex"));
  return Buffer.concat([decipher.update(Buffer.from(box.data, "hex")), decipher.final()])
    .toString("utf8");
}

/** SHA-256 (hex) and size of a file, read in chunks. */
async function digestFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    size += n;
  }
  return { size, sha256: hash.digest("hex") };
}

/**
 * The manifest of a run folder: every file but the unsealed ones, sorted by path. A symbolic
 * link is sealed as its target's name; anything that is neither a file, a folder nor a link
 * (a fifo, a socket) as its kind, unread.
 */
export async function manifest(dir: string): Promise<SealedFile[]> {
  const out: SealedFile[] = [];
  const walk = async (rel: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(join(dir, rel))) entries.push(e);
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && UNSEALED.has(e.name)) continue;
      const full = join(dir, path);
      if (e.isSymlink) {
        const target = await Deno.readLink(full);
        out.push({ path, size: -1, sha256: sha256Text(`symlink\0${target}`) });
      } else if (e.isDirectory) await walk(path);
      else if (e.isFile) out.push({ path, ...await digestFile(full) });
      else out.push({ path, size: -1, sha256: sha256Text("special") });
    }
  };
  try {
    await walk("");
  } catch (error) {
    throw new SealError(`cannot read the run folder ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Sorted by name: the order a listing gives is the store's business. */
function sortedStore(store: SealedStore | null | undefined): SealedStore | null {
  if (!store) return null;
  return {
    bucket: store.bucket,
    prefixes: [...store.prefixes],
    objects: store.objects
      .map((o) => ({ name: o.name, size: o.size, etag: o.etag ?? null }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** Writes `seal.json` over the run folder `dir` as it is now; returns the seal. */
export async function sealRunFolder(
  dir: string,
  key: Uint8Array,
  extra: SealExtra,
): Promise<Seal> {
  const fields: Omit<Seal, "tag"> = {
    format: SEAL_FORMAT,
    run_id: extra.runId,
    key_id: keyId(key),
    sealed_at: new Date().toISOString(),
    files: await manifest(dir),
    store: sortedStore(extra.store),
    webhook_secret: extra.webhookSecret
      ? encryptSecret(key, extra.runId, extra.webhookSecret)
      : null,
  };
  const seal: Seal = { ...fields, tag: sealTag(key, fields) };
  await Deno.writeTextFile(join(dir, SEAL_FILE), JSON.stringify(seal, null, 1) + "\n");
  return seal;
}

/**
 * Seals `dir` again as it is now, keeping the run id, the store list and the webhook secret of
 * its current seal (which must verify under `key`): what a test does after editing a sealed
 * folder on purpose, to reach the checks behind the seal.
 */
export async function resealRunFolder(dir: string, key: Uint8Array): Promise<Seal> {
  const seal = await readSeal(dir);
  if (typeof seal === "string" || seal.key_id !== keyId(key) || sealTag(key, seal) !== seal.tag) {
    throw new SealError(`${join(dir, SEAL_FILE)} does not verify under this key: cannot reseal`);
  }
  return await sealRunFolder(dir, key, {
    runId: seal.run_id,
    store: seal.store,
    webhookSecret: seal.webhook_secret
      ? decryptSecret(key, seal.run_id, seal.webhook_secret)
      : null,
  });
}

/** The seal of `dir`, or why there is none: "missing" or "altered". */
async function readSeal(dir: string): Promise<Seal | "missing" | "altered"> {
  const path = join(dir, SEAL_FILE);
  try {
    const stat = await Deno.lstat(path);
    if (!stat.isFile || stat.size > MAX_SEAL_BYTES) return "altered";
    const seal = JSON.parse(await Deno.readTextFile(path));
    return isSeal(seal) ? seal : "altered";
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "missing" : "altered";
  }
}

const isHex = (x: unknown) => typeof x === "string" && /^[0-9a-f]*$/.test(x);

/** Whether `x` has the shape of a seal (its tag is checked apart). */
function isSeal(x: unknown): x is Seal {
  const s = x as Seal;
  return typeof s === "object" && s !== null && s.format === SEAL_FORMAT &&
    typeof s.run_id === "string" && typeof s.key_id === "string" && isHex(s.tag) &&
    Array.isArray(s.files) &&
    s.files.every((f) =>
      typeof f === "object" && f !== null && typeof f.path === "string" &&
      Number.isSafeInteger(f.size) && isHex(f.sha256)
    ) &&
    (s.store === null || (typeof s.store === "object" && Array.isArray(s.store.objects) &&
      Array.isArray(s.store.prefixes) && typeof s.store.bucket === "string")) &&
    (s.webhook_secret === null ||
      (typeof s.webhook_secret === "object" && isHex(s.webhook_secret.iv) &&
        isHex(s.webhook_secret.tag) && isHex(s.webhook_secret.data)));
}

/** Checks the run folder `dir` against its seal under `key`. */
export async function checkSeal(dir: string, key: Uint8Array): Promise<SealCheck> {
  const check: SealCheck = {
    ok: false,
    fingerprintOk: true,
    altered: [],
    added: [],
    missing: [],
    runId: null,
    store: null,
    webhookSecret: null,
  };
  const seal = await readSeal(dir);
  if (seal === "missing") return { ...check, missing: [SEAL_FILE] };
  if (seal === "altered") return { ...check, altered: [SEAL_FILE] };
  if (seal.key_id !== keyId(key)) return { ...check, fingerprintOk: false };
  if (sealTag(key, seal) !== seal.tag) return { ...check, altered: [SEAL_FILE] };
  let webhookSecret: string | null = null;
  if (seal.webhook_secret) {
    try {
      webhookSecret = decryptSecret(key, seal.run_id, seal.webhook_secret);
    } catch {
      return { ...check, altered: [SEAL_FILE] }; // cannot happen with a tag that verifies
    }
  }
  const now = new Map((await manifest(dir)).map((f) => [f.path, f]));
  const sealed = new Map(seal.files.map((f) => [f.path, f]));
  for (const [path, f] of sealed) {
    const found = now.get(path);
    if (!found) check.missing.push(path);
    else if (found.size !== f.size || found.sha256 !== f.sha256) check.altered.push(path);
  }
  for (const path of now.keys()) if (!sealed.has(path)) check.added.push(path);
  return {
    ...check,
    ok: check.altered.length + check.added.length + check.missing.length === 0,
    runId: seal.run_id,
    store: seal.store,
    webhookSecret,
  };
}

/**
 * How the store's objects now differ from the sealed list: one line per object changed (size or
 * ETag), added or gone, at most `max` lines (then a count of the rest). Pure.
 */
export function storeChanges(
  sealed: SealedStore,
  now: readonly { name: string; size: number; etag?: string | null }[],
  max = 10,
): string[] {
  const out: string[] = [];
  const before = new Map(sealed.objects.map((o) => [o.name, o]));
  const after = new Map(now.map((o) => [o.name, o]));
  for (const [name, o] of before) {
    const n = after.get(name);
    if (!n) out.push(`${name} removed`);
    else if (n.size !== o.size || (n.etag ?? null) !== o.etag) {
      out.push(`${name} changed (size ${o.size} → ${n.size}, ETag ${o.etag} → ${n.etag ?? null})`);
    }
  }
  for (const name of after.keys()) if (!before.has(name)) out.push(`${name} added`);
  return out.length > max ? [...out.slice(0, max), `and ${out.length - max} more`] : out;
}
