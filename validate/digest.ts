/**
 * Digests that tell a stored line from the record in the topic: a keyed 32-bit
 * hash of the raw bytes (equal bytes: the same record, the fast path), and a
 * digest of the parsed event over the schema's fields in the schema's order
 * (a sink that re-serializes an event, with other spacing or key order, stores
 * the same event). The key is drawn per audit, so a line cannot be crafted to
 * collide with a record it does not equal.
 *
 * ```ts
 * import { canonicalDigest, hashText } from "./digest.ts";
 * const seed = 0x9e3779b9;
 * hashText('{"producer_id":"a","seq":1}', seed) === hashText('{"producer_id":"a","seq":1}', seed);
 * ```
 * @module
 */

import { TelemetryEvent } from "../pipeline/event.ts";

const FIELDS = Object.keys(TelemetryEvent.shape);

/** murmur3's mixing of one 32-bit block `k` into `h`. */
function round(h: number, k: number): number {
  h ^= tail(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's scrambling of a block (alone for the last, partial one). */
function tail(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** murmur3's finalizer over `length` units. */
function finish(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A keyed 32-bit hash (murmur3) of `text[from, to)`'s UTF-16 code units, two units to a block.
 */
export function hashText(text: string, seed: number, from = 0, to = text.length): number {
  let h = seed | 0;
  let i = from;
  for (; i + 1 < to; i += 2) h = round(h, text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16));
  if (i < to) h ^= tail(text.charCodeAt(i));
  return finish(h, to - from);
}

/**
 * The same hash over bytes, four to a block: the raw digest of a record (its value as Kafka
 * holds it, a stored line as the object holds it), with no UTF-8 decoding on the way. The store
 * check runs it as WebAssembly (_wasm_hash.ts); this is its reference.
 */
export function hashBytes(b: Uint8Array, seed: number, from = 0, to = b.length): number {
  let h = seed | 0;
  let i = from;
  for (; i + 3 < to; i += 4) {
    h = round(h, b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
  }
  let k = 0;
  for (let shift = 0; i < to; i++, shift += 8) k |= b[i] << shift;
  if ((to - from) & 3) h ^= tail(k);
  return finish(h, to - from);
}

/** The digest of a parsed event: its fields' JSON values in the schema's order. */
export function canonicalDigest(event: Record<string, unknown>, seed: number): number {
  return hashText(JSON.stringify(FIELDS.map((f) => event[f])), seed ^ 0x5bd1e995);
}

/** A fresh key for one audit. */
export function newSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
