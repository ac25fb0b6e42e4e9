/**
 * `hashBytes` (digest.ts) as a WebAssembly function, for the store check's hot
 * loop: the same keyed murmur3 over bytes, about 4x the speed of the
 * JavaScript loop here. The module is assembled below from its instructions
 * (no binary in the repository); digest_test.ts checks that both give the
 * same hashes.
 *
 * ```ts
 * import { WasmHasher } from "./_wasm_hash.ts";
 * const hasher = new WasmHasher();
 * hasher.load(bytes); // an object's text
 * hasher.hash(0, 10, seed) === hashBytes(bytes, seed, 0, 10);
 * ```
 * @module
 */

/** Signed LEB128 of a 32-bit integer (i32.const immediates). */
function sleb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  while (true) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const I32 = 0x7f;
const op = {
  localGet: (i: number) => [0x20, i],
  localSet: (i: number) => [0x21, i],
  localTee: (i: number) => [0x22, i],
  const: (v: number) => [0x41, ...sleb(v)],
  load: [0x28, 0, 0], // i32.load align=1 offset=0 (unaligned)
  load8: (offset: number) => [0x2d, 0, offset], // i32.load8_u
  add: [0x6a],
  and: [0x71],
  xor: [0x73],
  mul: [0x6c],
  shl: [0x74],
  shrU: [0x76],
  rotl: [0x77],
  geU: [0x4f],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  brIf: (depth: number) => [0x0d, depth],
  br: (depth: number) => [0x0c, depth],
  end: [0x0b],
};

const C1 = 0xcc9e2d51, C2 = 0x1b873593, C3 = 0xe6546b64;
// Parameters: 0 ptr, 1 len, 2 seed. Locals: 3 h, 4 k, 5 end of the 4-byte rounds, 6 tail length.
const [P, N, SEED, H, K, END, REM] = [0, 1, 2, 3, 4, 5, 6];
const mixK = [...op.const(C1), ...op.mul, ...op.const(15), ...op.rotl, ...op.const(C2), ...op.mul];
/** h = h ^ (h >>> n) */
const xorShiftH = (n: number) => [
  ...op.localGet(H),
  ...op.localGet(H),
  ...op.const(n),
  ...op.shrU,
  ...op.xor,
  ...op.localSet(H),
];
/** h = h * c */
const mulH = (c: number) => [...op.localGet(H), ...op.const(c), ...op.mul, ...op.localSet(H)];
/** k ^= load8(p + offset) << shift (the tail's bytes) */
const tailByte = (offset: number, shift: number) => [
  ...op.localGet(P),
  ...op.load8(offset),
  ...op.const(shift),
  ...op.shl,
  ...op.localGet(K),
  ...op.xor,
  ...op.localSet(K),
];
/** if (rem >= n) { … } */
const ifRem = (n: number, then: number[]) => [
  ...op.localGet(REM),
  ...op.const(n),
  ...op.geU,
  ...op.if,
  ...then,
  ...op.end,
];

// deno-fmt-ignore
const body = [
  1, 4, I32, // four i32 locals
  // h = seed; end = p + (len & ~3)
  ...op.localGet(SEED), ...op.localSet(H),
  ...op.localGet(P), ...op.localGet(N), ...op.const(-4), ...op.and, ...op.add, ...op.localSet(END),
  // while (p < end) { h = rotl(h ^ mix(load32(p)), 13) * 5 + C3; p += 4 }
  ...op.block, ...op.loop,
  ...op.localGet(P), ...op.localGet(END), ...op.geU, ...op.brIf(1),
  ...op.localGet(P), ...op.load, ...mixK,
  ...op.localGet(H), ...op.xor, ...op.const(13), ...op.rotl, ...op.const(5), ...op.mul,
  ...op.const(C3), ...op.add, ...op.localSet(H),
  ...op.localGet(P), ...op.const(4), ...op.add, ...op.localSet(P),
  ...op.br(0), ...op.end, ...op.end,
  // the last 1-3 bytes: h ^= mix(b0 | b1 << 8 | b2 << 16)
  ...op.const(0), ...op.localSet(K),
  ...op.localGet(N), ...op.const(3), ...op.and, ...op.localTee(REM), ...op.if,
  ...ifRem(3, tailByte(2, 16)),
  ...ifRem(2, tailByte(1, 8)),
  ...tailByte(0, 0),
  ...op.localGet(K), ...mixK, ...op.localGet(H), ...op.xor, ...op.localSet(H),
  ...op.end,
  // the finalizer: h ^= len, then murmur3's fmix
  ...op.localGet(H), ...op.localGet(N), ...op.xor, ...op.localSet(H),
  ...xorShiftH(16), ...mulH(0x85ebca6b), ...xorShiftH(13), ...mulH(0xc2b2ae35), ...xorShiftH(16),
  ...op.localGet(H),
  ...op.end,
];

/** Unsigned LEB128 (sizes and counts). */
function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
const name = (s: string) => [s.length, ...new TextEncoder().encode(s)];

const MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // "\0asm", version 1
  ...section(1, [1, 0x60, 3, I32, I32, I32, 1, I32]), // type: (i32, i32, i32) -> i32
  ...section(3, [1, 0]), // one function of that type
  ...section(5, [1, 0, 1]), // one memory, at least one page
  ...section(7, [2, ...name("hash"), 0, 0, ...name("mem"), 2, 0]), // exports
  ...section(10, [1, ...uleb(body.length), ...body]), // the function's body
]);

const compiled = new WebAssembly.Module(MODULE);

export class WasmHasher {
  readonly #hash: (ptr: number, len: number, seed: number) => number;
  readonly #memory: WebAssembly.Memory;
  #bytes: Uint8Array;

  constructor() {
    const instance = new WebAssembly.Instance(compiled);
    this.#hash = instance.exports.hash as (ptr: number, len: number, seed: number) => number;
    this.#memory = instance.exports.mem as WebAssembly.Memory;
    this.#bytes = new Uint8Array(this.#memory.buffer);
  }

  /** Copies `bytes` into the module's memory (growing it): `hash` reads them from offset 0. */
  load(bytes: Uint8Array): void {
    if (bytes.length > this.#memory.buffer.byteLength) {
      const pages = Math.ceil((bytes.length - this.#memory.buffer.byteLength) / 65536);
      this.#memory.grow(pages);
      this.#bytes = new Uint8Array(this.#memory.buffer);
    }
    this.#bytes.set(bytes, 0);
  }

  /** hashBytes(loaded, seed, from, to). */
  hash(from: number, to: number, seed: number): number {
    return this.#hash(from, to - from, seed) >>> 0;
  }
}
