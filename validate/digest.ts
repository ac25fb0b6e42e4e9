/**
 * Digests that tell a stored line from the record in the topic: SipHash-2-4
 * with a 128-bit output, keyed, over the raw bytes (the record's very bytes:
 * the fast path), and over a canonical form of the parsed event (its schema's
 * fields in the schema's order: a sink that re-serializes an event, with other
 * spacing or key order, stores the same event).
 *
 * The key is the audit's (`auditKey`): derived from the harness's own key
 * (lib/harness_key.ts) and the run's id, never written to the run folder, so
 * whoever can write the store or the run folder cannot compute a digest, and a
 * line cannot be crafted to collide with a record it does not equal (SipHash is
 * a PRF: 2^-128 per guess, where the 32-bit murmur3 this replaces was inverted
 * with four appended bytes). Its first 16 bytes key the raw digests, the last
 * 16 the canonical ones.
 *
 * SipHash-2-4 rather than -1-3: the paper's conservative choice, and fast
 * enough here (bench:validate stays above 1M events/s; see docs/reference.md).
 * The hot paths run it as WebAssembly (_wasm_hash.ts); `sipHash128` below is
 * the plain reference the tests hold it to.
 *
 * ```ts
 * import { auditKey, Digester } from "./digest.ts";
 * const key = auditKey(new Uint8Array(32), "run-1"); // 32 bytes
 * const digests = new Digester(key);
 * const column = new Uint32Array(8);
 * digests.raw(new TextEncoder().encode('{"producer_id":"a","seq":1}'), column, 0);
 * ```
 * @module
 */

import { deriveKey } from "../lib/harness_key.ts";
import { TelemetryEvent } from "../pipeline/event.ts";
import { WasmSipHash } from "./_wasm_hash.ts";

const FIELDS = Object.keys(TelemetryEvent.shape);

/** Bytes of an audit key: a 16-byte key for raw digests, then one for canonical digests. */
export const AUDIT_KEY_BYTES = 32;

/** The audit key of a run: `deriveKey(harnessKey, "topic-audit", runId)`. */
export function auditKey(harnessKey: Uint8Array, runId: string): Uint8Array {
  return deriveKey(harnessKey, "topic-audit", runId);
}

/** A random audit key (an audit kept in memory only: tests, the sink's test, the benchmark). */
export function randomAuditKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(AUDIT_KEY_BYTES));
}

const encoder = new TextEncoder();

/** The canonical form of a parsed event: its fields' JSON values in the schema's order. */
export function canonicalForm(event: Record<string, unknown>): Uint8Array {
  return encoder.encode(canonicalText(event));
}

/** The canonical form as text (its UTF-8 bytes are `canonicalForm`'s). */
function canonicalText(event: Record<string, unknown>): string {
  return JSON.stringify(FIELDS.map((f) => event[f]));
}

/**
 * An audit key's digests, 128 bits each, written to and compared with columns of four 32-bit
 * words per record (topic_table.ts). One per thread: it holds a WebAssembly instance.
 */
export class Digester {
  readonly #sip: WasmSipHash;

  constructor(key: Uint8Array) {
    if (key.length !== AUDIT_KEY_BYTES) {
      throw new RangeError(`an audit key is ${AUDIT_KEY_BYTES} bytes, got ${key.length}`);
    }
    this.#sip = new WasmSipHash(key);
  }

  /** The raw digest of `bytes` into `column` at record `at`. */
  raw(bytes: Uint8Array, column: Uint32Array, at: number): void {
    this.#sip.digestBytes(bytes, 0);
    this.#sip.store(column, at);
  }

  /** Whether `bytes` have the raw digest at `column`'s record `at`. */
  rawEquals(bytes: Uint8Array, column: Uint32Array, at: number): boolean {
    this.#sip.digestBytes(bytes, 0);
    return this.#sip.equals(column, at);
  }

  /** The canonical digest of a parsed event into `column` at record `at`. */
  canonical(event: Record<string, unknown>, column: Uint32Array, at: number): void {
    this.#sip.digestText(canonicalText(event), 1);
    this.#sip.store(column, at);
  }

  /** Whether a parsed event has the canonical digest at `column`'s record `at`. */
  canonicalEquals(event: Record<string, unknown>, column: Uint32Array, at: number): boolean {
    this.#sip.digestText(canonicalText(event), 1);
    return this.#sip.equals(column, at);
  }
}

const MASK = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & MASK;

/**
 * SipHash-c-d with a 128-bit output, in plain TypeScript (BigInt lanes): the reference the
 * WebAssembly function is tested against. `key`: 16 bytes. Returns the 16 output bytes.
 */
export function sipHash128(
  key: Uint8Array,
  data: Uint8Array,
  options: { c?: number; d?: number } = {},
): Uint8Array {
  const { c = 2, d = 4 } = options;
  if (key.length !== 16) throw new RangeError(`SipHash takes a 16-byte key, got ${key.length}`);
  const word = (b: Uint8Array, at: number) => {
    let w = 0n;
    for (let i = 7; i >= 0; i--) w = (w << 8n) | BigInt(b[at + i]);
    return w;
  };
  const k0 = word(key, 0);
  const k1 = word(key, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn ^ 0xeen;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & MASK;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & MASK;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const absorb = (m: bigint) => {
    v3 ^= m;
    for (let i = 0; i < c; i++) round();
    v0 ^= m;
  };
  const full = data.length - (data.length % 8);
  for (let i = 0; i < full; i += 8) absorb(word(data, i));
  let last = BigInt(data.length & 0xff) << 56n;
  for (let i = full; i < data.length; i++) last |= BigInt(data[i]) << BigInt(8 * (i - full));
  absorb(last);
  const out = new Uint8Array(16);
  const emit = (at: number) => {
    let h = v0 ^ v1 ^ v2 ^ v3;
    for (let i = 0; i < 8; i++, h >>= 8n) out[at + i] = Number(h & 0xffn);
  };
  v2 ^= 0xeen;
  for (let i = 0; i < d; i++) round();
  emit(0);
  v1 ^= 0xddn;
  for (let i = 0; i < d; i++) round();
  emit(8);
  return out;
}
