/**
 * SipHash-2-4 with a 128-bit output (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012) as a WebAssembly function, for the store check's hot
 * loop and the audit's tabling: 64-bit lanes are native there (i64 add, xor,
 * rotl), where JavaScript would need BigInt or 32-bit halves. The module is
 * assembled below from its instructions (no binary in the repository);
 * digest_test.ts checks it against the paper's test vectors and against the
 * plain TypeScript reference (`sipHash128` in digest.ts) on random inputs.
 *
 * The module's memory: two 16-byte keys at 0 and 16 (the audit's raw and
 * canonical keys), the last digest at 32 (16 bytes), the data from 64 on,
 * followed by at least 8 readable bytes (the last block is read as one
 * 64-bit load and masked).
 *
 * ```ts
 * import { WasmSipHash } from "./_wasm_hash.ts";
 * const h = new WasmSipHash(new Uint8Array(32)); // two 16-byte keys
 * h.load(bytes); // an object's text
 * h.digest(0, 10, 0); // SipHash-2-4-128 of bytes[0, 10) under the first key
 * h.equals(column, 7); // the digest equals column[28..32)
 * ```
 * @module
 */

/** Compression and finalization rounds: SipHash-2-4, the paper's recommended PRF. */
const C_ROUNDS = 2;
const D_ROUNDS = 4;

/** Where things are in the module's memory (see the module's doc). */
const KEYS = 0;
const OUT = 32;
const DATA = 64;
/** Readable bytes after the data (the last block is one 64-bit load). */
const SLACK = 8;
const PAGE = 65536;

/** Signed LEB128 (i32.const and i64.const immediates). */
export function sleb(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asIntN(64, value);
  while (true) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Unsigned LEB128 (sizes, counts, memory offsets). */
export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

export const I32 = 0x7f;
export const I64 = 0x7e;
/** Instructions (the ones the modules here use), as bytes. */
export const op = {
  get: (i: number) => [0x20, i],
  set: (i: number) => [0x21, i],
  i32: (v: number) => [0x41, ...sleb(BigInt(v))],
  i64: (v: bigint) => [0x42, ...sleb(v)],
  load64: (offset: number) => [0x29, 0, ...uleb(offset)], // i64.load align=1 (unaligned)
  store64: (offset: number) => [0x37, 0, ...uleb(offset)], // i64.store align=1
  i32Add: [0x6a],
  i32And: [0x71],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  add: [0x7c], // i64
  sub: [0x7d],
  and: [0x83],
  or: [0x84],
  xor: [0x85],
  shl: [0x86],
  rotl: [0x89],
  extendU: [0xad], // i64.extend_i32_u
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  brIf: (depth: number) => [0x0d, depth],
  br: (depth: number) => [0x0c, depth],
  end: [0x0b],
};

// Parameters: 0 ptr, 1 len, 2 key address. Locals: 3 end of the full blocks, 4 v0 … 7 v3, 8 m.
const [P, N, KP, END, V0, V1, V2, V3, M] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/** a = a + b (64-bit lanes). */
const addInto = (a: number, b: number) => [...op.get(a), ...op.get(b), ...op.add, ...op.set(a)];
/** a = rotl(a, n) ^ b. */
const rotXor = (a: number, n: number, b: number) => [
  ...op.get(a),
  ...op.i64(BigInt(n)),
  ...op.rotl,
  ...op.get(b),
  ...op.xor,
  ...op.set(a),
];
/** a = rotl(a, 32). */
const half = (a: number) => [...op.get(a), ...op.i64(32n), ...op.rotl, ...op.set(a)];
/** a ^= b. */
const xorInto = (a: number, b: number) => [...op.get(a), ...op.get(b), ...op.xor, ...op.set(a)];
/** a ^= constant. */
const xorConst = (a: number, c: bigint) => [...op.get(a), ...op.i64(c), ...op.xor, ...op.set(a)];

/** One SipRound over v0 … v3. */
const sipRound = [
  ...addInto(V0, V1),
  ...rotXor(V1, 13, V0),
  ...half(V0),
  ...addInto(V2, V3),
  ...rotXor(V3, 16, V2),
  ...addInto(V0, V3),
  ...rotXor(V3, 21, V0),
  ...addInto(V2, V1),
  ...rotXor(V1, 17, V2),
  ...half(V2),
];
const rounds = (n: number) => Array.from({ length: n }, () => sipRound).flat();
/** Absorbs the block in m: v3 ^= m, c rounds, v0 ^= m. */
const absorb = [...xorInto(V3, M), ...rounds(C_ROUNDS), ...xorInto(V0, M)];
/** Stores v0 ^ v1 ^ v2 ^ v3 at OUT + offset. */
const emit = (offset: number) => [
  ...op.i32(0),
  ...op.get(V0),
  ...op.get(V1),
  ...op.xor,
  ...op.get(V2),
  ...op.xor,
  ...op.get(V3),
  ...op.xor,
  ...op.store64(OUT + offset),
];
/** v = key word ^ constant (the initial state). */
const init = (v: number, word: number, c: bigint) => [
  ...op.get(KP),
  ...op.load64(word * 8),
  ...op.i64(c),
  ...op.xor,
  ...op.set(v),
];

/** The `sip(ptr, len, key)` function's body (locals, code, end): the digest stored at 32. */
// deno-fmt-ignore
export const SIP_BODY = [
  2, 1, I32, 5, I64, // locals: end; v0 … v3, m
  // "somepseudorandomlygeneratedbytes", and v1 ^= 0xee for the 128-bit output
  ...init(V0, 0, 0x736f6d6570736575n), ...init(V1, 1, 0x646f72616e646f6dn ^ 0xeen),
  ...init(V2, 0, 0x6c7967656e657261n), ...init(V3, 1, 0x7465646279746573n),
  // end = p + (len & ~7); while (p < end) { m = load64(p); absorb; p += 8 }
  ...op.get(P), ...op.get(N), ...op.i32(-8), ...op.i32And, ...op.i32Add, ...op.set(END),
  ...op.block, ...op.loop,
  ...op.get(P), ...op.get(END), ...op.i32GeU, ...op.brIf(1),
  ...op.get(P), ...op.load64(0), ...op.set(M), ...absorb,
  ...op.get(P), ...op.i32(8), ...op.i32Add, ...op.set(P),
  ...op.br(0), ...op.end, ...op.end,
  // the last block: m = len << 56 | (load64(p) & ((1 << 8 * (len & 7)) - 1))
  ...op.get(N), ...op.extendU, ...op.i64(56n), ...op.shl,
  ...op.get(P), ...op.load64(0),
  ...op.i64(1n), ...op.get(N), ...op.i32(7), ...op.i32And, ...op.i32(3), ...op.i32Shl,
  ...op.extendU, ...op.shl, ...op.i64(1n), ...op.sub, ...op.and,
  ...op.or, ...op.set(M), ...absorb,
  // finalization: v2 ^= 0xee, d rounds, the first half; v1 ^= 0xdd, d rounds, the second
  ...xorConst(V2, 0xeen), ...rounds(D_ROUNDS), ...emit(0),
  ...xorConst(V1, 0xddn), ...rounds(D_ROUNDS), ...emit(8),
  ...op.end,
];

export const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
export const name = (s: string) => [s.length, ...new TextEncoder().encode(s)];

const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
  ...section(1, [1, 0x60, 3, I32, I32, I32, 0]), // type: (i32, i32, i32) -> ()
  ...section(3, [1, 0]), // one function of that type
  ...section(5, [1, 0, 1]), // one memory, at least one page
  ...section(7, [2, ...name("sip"), 0, 0, ...name("mem"), 2, 0]), // exports
  ...section(10, [1, ...uleb(SIP_BODY.length), ...SIP_BODY]), // the function's body
]);

const compiled = new WebAssembly.Module(MODULE);

const textEncoder = new TextEncoder();

/** Which of the two keys: the raw bytes' (0) or the canonical events' (1). */
export type KeySlot = 0 | 1;

export class WasmSipHash {
  readonly #sip: (ptr: number, len: number, key: number) => void;
  readonly #memory: WebAssembly.Memory;
  #bytes!: Uint8Array;
  #words!: Uint32Array;
  /** Bytes loaded at DATA. */
  #loaded = 0;

  /** `keys`: 32 bytes, the first key (slot 0) then the second (slot 1). */
  constructor(keys: Uint8Array) {
    const instance = new WebAssembly.Instance(compiled);
    this.#sip = instance.exports.sip as (ptr: number, len: number, key: number) => void;
    this.#memory = instance.exports.mem as WebAssembly.Memory;
    this.#views();
    this.setKeys(keys);
  }

  setKeys(keys: Uint8Array): void {
    if (keys.length !== 32) {
      throw new RangeError(`two 16-byte keys expected, got ${keys.length} bytes`);
    }
    this.#bytes.set(keys, KEYS);
  }

  /** Copies `bytes` into the module's memory (growing it): `digest` reads them. */
  load(bytes: Uint8Array): void {
    const need = DATA + bytes.length + SLACK;
    if (need > this.#memory.buffer.byteLength) {
      this.#memory.grow(Math.ceil((need - this.#memory.buffer.byteLength) / PAGE));
      this.#views();
    }
    this.#bytes.set(bytes, DATA);
    this.#bytes.fill(0, DATA + bytes.length, DATA + bytes.length + SLACK);
    this.#loaded = bytes.length;
  }

  /** SipHash-2-4-128 of the loaded bytes [from, to) under key `slot`, kept for `equals`/`store`. */
  digest(from: number, to: number, slot: KeySlot): void {
    if (from < 0 || to < from || to > this.#loaded) {
      throw new RangeError(`digest of [${from}, ${to}) outside the ${this.#loaded} bytes loaded`);
    }
    this.#sip(DATA + from, to - from, KEYS + 16 * slot);
  }

  /** Loads `bytes` and digests them all (what was loaded before is gone). */
  digestBytes(bytes: Uint8Array, slot: KeySlot): void {
    this.load(bytes);
    this.#sip(DATA, bytes.length, KEYS + 16 * slot);
  }

  /**
   * Digests `text`'s UTF-8 bytes, encoded straight into the module's memory (no array of its
   * own: the canonical digest of every event of a topic, digest.ts). The same bytes, so the
   * same digest, as `digestBytes(new TextEncoder().encode(text))`.
   */
  digestText(text: string, slot: KeySlot): void {
    const need = DATA + 3 * text.length + SLACK; // UTF-8: at most 3 bytes per UTF-16 unit
    if (need > this.#memory.buffer.byteLength) {
      this.#memory.grow(Math.ceil((need - this.#memory.buffer.byteLength) / PAGE));
      this.#views();
    }
    const { written } = textEncoder.encodeInto(text, this.#bytes.subarray(DATA));
    this.#bytes.fill(0, DATA + written, DATA + written + SLACK);
    this.#loaded = written;
    this.#sip(DATA, written, KEYS + 16 * slot);
  }

  /** Whether the last digest is the one at `column[4 * at, 4 * at + 4)`. */
  equals(column: Uint32Array, at: number): boolean {
    const w = this.#words, i = 4 * at, o = OUT / 4;
    return w[o] === column[i] && w[o + 1] === column[i + 1] && w[o + 2] === column[i + 2] &&
      w[o + 3] === column[i + 3];
  }

  /** Writes the last digest to `column[4 * at, 4 * at + 4)`. */
  store(column: Uint32Array, at: number): void {
    column.set(this.#words.subarray(OUT / 4, OUT / 4 + 4), 4 * at);
  }

  /** The last digest's 16 bytes (a copy). */
  bytes(): Uint8Array {
    return this.#bytes.slice(OUT, OUT + 16);
  }

  #views(): void {
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.#words = new Uint32Array(this.#memory.buffer);
  }
}
