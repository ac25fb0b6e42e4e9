/**
 * The audit's fast path (_canonical_bytes.ts) as WebAssembly, beside the
 * SipHash of _wasm_hash.ts in one module: `scan` reads a value in the
 * generator's canonical layout, writes its canonical form after it, and
 * digests both (the raw bytes under the first key, the form under the second)
 * in one call, with no JavaScript per byte. Its rules are _canonical_bytes.ts's
 * `readCanonical`, byte for byte (the schema's keys in order, no whitespace,
 * no escapes, strings of printable ASCII, integers without sign, fraction or
 * exponent, a `latency_ms` written as `JSON.stringify` writes it): it takes
 * exactly what that function takes, with the same producer_id, seq and
 * canonical form (wasm_canonical_test.ts holds it to it, and through the
 * table builder to the slow path, on the generator's events, malformed.ts's
 * corruptions and thousands of mutations). The module is assembled below from
 * its instructions, as _wasm_hash.ts's is (no binary in the repository).
 * About 2.7 times less CPU a record than the JavaScript scan and digests it
 * replaces (0.8-0.9 against 2.3-2.5 CPU-s per million generator events, one
 * thread, the same process, alternated).
 *
 * The module's memory: the two 16-byte keys at 0, the last digest at 32, the
 * raw digest at 48, the scan's results at 64 (producer_id's start and end,
 * its FNV-1a hash, the form's length: i32; the seq: f64), the value from 128
 * on, its canonical form right after it.
 *
 * ```ts
 * import { RAW_WORD, WasmCanonical } from "./_wasm_canonical.ts";
 * const c = new WasmCanonical(new Uint8Array(32)); // the audit key
 * if (c.scan(bytes, 0, bytes.length)) c.words.subarray(RAW_WORD, RAW_WORD + 4); // and c.seq, …
 * ```
 * @module
 */

import { I32, I64, name, op, section, SIP_BODY, uleb } from "./_wasm_hash.ts";
// The keys before each value: the readable reference's own.
import { KEYS } from "./_canonical_bytes.ts";

const enc = new TextEncoder();

/** Memory layout (bytes). */
const OUT = 32;
const RAW = 48;
const RES = 64;
const DATA = 128;
/** Readable bytes after the form (loads of 8 bytes past a value's end, SipHash's last block). */
const SLACK = 64;
const PAGE = 65536;

// Locals of `scan`: parameters p (position), e (end), o (output); then 3 … 10 i32 (s: the
// value's start, c, n, o0: the form's start, h: the id's hash, f, z, p0: the value's start),
// 11 i64 (v: the seq), 12 and 13 i32 (the id's span).
// deno-fmt-ignore
const [p, e, o, s, c, n, o0, h, f, z, p0, v, idS, idE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
const LOCALS = [3, 8, I32, 1, I64, 2, I32];

const x = {
  ...op,
  load8: (offset = 0) => [0x2d, 0, ...uleb(offset)],
  load32: (offset = 0) => [0x28, 0, ...uleb(offset)],
  store8: (offset = 0) => [0x3a, 0, ...uleb(offset)],
  store32: (offset = 0) => [0x36, 0, ...uleb(offset)],
  storeF64: (offset = 0) => [0x39, 0, ...uleb(offset)],
  tee: (i: number) => [0x22, i],
  eq: [0x46],
  ne: [0x47],
  ltU: [0x49],
  gtU: [0x4b],
  leU: [0x4d],
  geU: [0x4f],
  eqz: [0x45],
  sub32: [0x6b],
  mul32: [0x6c],
  or32: [0x72],
  xor32: [0x73],
  and32: [0x71],
  add32: [0x6a],
  ne64: [0x52],
  mul64: [0x7e],
  f64FromU64: [0xba],
  if: [0x04, 0x40],
  else: [0x05],
  ret: [0x0f],
  call: (i: number) => [0x10, i],
};

const g = x.get;
const k32 = x.i32;
/** Returns 0 (not canonical) when the i32 on the stack is not 0. */
const fail = (cond: number[]) => [...cond, ...x.if, ...k32(0), ...x.ret, ...x.end];
/** local = local + k. */
const bump = (l: number, k: number) => [...g(l), ...k32(k), ...x.add32, ...x.set(l)];
/** The byte at p + k. */
const at = (k = 0) => [...g(p), ...x.load8(k)];
/** p >= e, or the byte at p is not `b` (reading past e is harmless: the memory has slack). */
const notByte = (b: number) => [...g(p), ...g(e), ...x.geU, ...at(), ...k32(b), ...x.ne, ...x.or32];

/** Little-endian 64-bit words of `bytes` (the last, of fewer than 8 bytes, masked). */
function words(bytes: Uint8Array): { offset: number; value: bigint; mask: bigint }[] {
  const out = [];
  for (let i = 0; i < bytes.length; i += 8) {
    let value = 0n, mask = 0n;
    for (let j = 0; j < 8 && i + j < bytes.length; j++) {
      value |= BigInt(bytes[i + j]) << BigInt(8 * j);
      mask |= 0xffn << BigInt(8 * j);
    }
    out.push({ offset: i, value, mask });
  }
  return out;
}

/** The i32 on the stack: 1 when the bytes at p are not `bytes` (p + their length ≤ e checked apart). */
function differs(bytes: Uint8Array): number[] {
  const code: number[] = [];
  words(bytes).forEach(({ offset, value, mask }, i) => {
    code.push(...g(p), ...x.load64(offset));
    if (mask !== 0xffffffffffffffffn) code.push(...x.i64(mask), ...x.and);
    code.push(...x.i64(value), ...x.ne64);
    if (i > 0) code.push(...x.or32);
  });
  return code;
}

/** p + k > e. */
const past = (k: number) => [...g(p), ...k32(k), ...x.add32, ...g(e), ...x.gtU];

/** The key `bytes` at p, then p past it. */
const key = (bytes: Uint8Array) => [
  ...fail(past(bytes.length)),
  ...fail(differs(bytes)),
  ...bump(p, bytes.length),
];

/** One of `list` at p (p past it), else not canonical. */
function oneOf(list: Uint8Array[]): number[] {
  const code: number[] = [...x.block];
  for (const w of list) {
    code.push(
      ...x.block,
      ...past(w.length),
      ...x.brIf(0),
      ...differs(w),
      ...x.brIf(0),
      ...bump(p, w.length),
      ...x.br(1),
      ...x.end,
    );
  }
  code.push(...k32(0), ...x.ret, ...x.end);
  return code;
}

/** local `into` = how many digits from p (p unmoved). */
const countDigits = (into: number) => [
  ...k32(0),
  ...x.set(into),
  ...x.block,
  ...x.loop,
  ...g(p),
  ...g(into),
  ...x.add32,
  ...x.tee(c),
  ...g(e),
  ...x.geU,
  ...x.brIf(1),
  ...g(c),
  ...x.load8(0),
  ...k32(48),
  ...x.sub32,
  ...k32(9),
  ...x.gtU,
  ...x.brIf(1),
  ...bump(into, 1),
  ...x.br(0),
  ...x.end,
  ...x.end,
];

/** The byte at p is a digit: (b - 48) <= 9 unsigned. */
const isDigitAt = (k = 0) => [...at(k), ...k32(48), ...x.sub32, ...k32(9), ...x.leU];

/**
 * A JSON string of `min` to `max` bytes, each 0x20 to 0x7f but `\` (a `"` ends it); with `hash`,
 * its bytes FNV-1a-hashed into h and its span kept in idS / idE.
 */
function text(min: number, max: number, hash = false): number[] {
  return [
    ...fail(notByte(34)),
    ...bump(p, 1),
    ...(hash ? [...g(p), ...x.set(idS), ...x.i32(0x811c9dc5 | 0), ...x.set(h)] : []),
    ...x.block,
    ...x.loop,
    ...fail([...g(p), ...g(e), ...x.geU]),
    ...at(),
    ...x.tee(c),
    ...k32(34),
    ...x.eq,
    ...x.brIf(1),
    ...fail([...g(c), ...k32(32), ...x.sub32, ...k32(0x5f), ...x.gtU]),
    ...fail([...g(c), ...k32(92), ...x.eq]),
    ...(hash ? [...g(h), ...g(c), ...x.xor32, ...k32(0x01000193), ...x.mul32, ...x.set(h)] : []),
    ...bump(p, 1),
    ...x.br(0),
    ...x.end,
    ...x.end,
    ...(hash ? [...g(p), ...x.set(idE)] : []),
    // n = p - s - 1 (the string's bytes)
    ...g(p),
    ...g(s),
    ...x.sub32,
    ...k32(1),
    ...x.sub32,
    ...x.tee(n),
    ...k32(min),
    ...x.ltU,
    ...g(n),
    ...k32(max),
    ...x.gtU,
    ...x.or32,
    ...x.if,
    ...k32(0),
    ...x.ret,
    ...x.end,
    ...bump(p, 1),
  ];
}

/**
 * An integer ≥ 0 of at most 15 digits, no leading zero, its first digit at least `first`; with
 * `value`, its value in v.
 */
function integer(first: number, value = false): number[] {
  return [
    ...fail([...g(p), ...g(e), ...x.geU]),
    ...fail([...at(), ...x.tee(c), ...k32(48 + first), ...x.sub32, ...k32(9 - first), ...x.gtU]),
    ...(value ? [...x.i64(0n), ...x.set(v)] : []),
    ...g(c),
    ...k32(48),
    ...x.eq,
    ...x.if,
    ...bump(p, 1),
    ...fail([...g(p), ...g(e), ...x.ltU, ...isDigitAt(), ...x.and32]),
    ...x.else,
    ...x.block,
    ...x.loop,
    ...g(p),
    ...g(e),
    ...x.geU,
    ...x.brIf(1),
    ...at(),
    ...k32(48),
    ...x.sub32,
    ...x.tee(c),
    ...k32(9),
    ...x.gtU,
    ...x.brIf(1),
    ...(value
      ? [...g(v), ...x.i64(10n), ...x.mul64, ...g(c), ...x.extendU, ...x.add, ...x.set(v)]
      : []),
    ...bump(p, 1),
    ...x.br(0),
    ...x.end,
    ...x.end,
    ...fail([...g(p), ...g(s), ...x.sub32, ...k32(15), ...x.gtU]),
    ...x.end,
  ];
}

/** An integer of 1 to `maxDigits` digits, no leading zero, at most `max`. */
function bounded(maxDigits: number, max: number): number[] {
  return [
    ...countDigits(n),
    ...fail([...g(n), ...k32(1), ...x.sub32, ...k32(maxDigits - 1), ...x.gtU]), // 0 or too many
    ...fail([...g(n), ...k32(1), ...x.gtU, ...at(), ...k32(48), ...x.eq, ...x.and32]),
    // f = the value
    ...k32(0),
    ...x.set(f),
    ...k32(0),
    ...x.set(z),
    ...x.block,
    ...x.loop,
    ...g(z),
    ...g(n),
    ...x.geU,
    ...x.brIf(1),
    ...g(f),
    ...k32(10),
    ...x.mul32,
    ...g(p),
    ...g(z),
    ...x.add32,
    ...x.load8(0),
    ...k32(48),
    ...x.sub32,
    ...x.add32,
    ...x.set(f),
    ...bump(z, 1),
    ...x.br(0),
    ...x.end,
    ...x.end,
    ...fail([...g(f), ...k32(max), ...x.gtU]),
    ...g(p),
    ...g(n),
    ...x.add32,
    ...x.set(p),
  ];
}

/** `"a.b.c.d"`, each 0 to 255 without a leading zero. */
function ipv4(): number[] {
  const code = [...fail(notByte(34)), ...bump(p, 1)];
  for (let k = 0; k < 4; k++) {
    if (k > 0) code.push(...fail(notByte(46)), ...bump(p, 1));
    code.push(...bounded(3, 255));
  }
  code.push(...fail(notByte(34)), ...bump(p, 1));
  return code;
}

const list = (...w: string[]) => w.map((t) => enc.encode(t));

/** `"FLAG,FLAG,…"` or `""`. */
function tcpFlags(): number[] {
  return [
    ...fail(notByte(34)),
    ...bump(p, 1),
    ...g(p),
    ...g(e),
    ...x.ltU,
    ...at(),
    ...k32(34),
    ...x.eq,
    ...x.and32,
    ...x.if,
    ...bump(p, 1),
    ...x.else,
    ...x.block,
    ...x.loop,
    ...oneOf(list("SYN", "ACK", "FIN", "RST", "PSH", "URG")),
    ...fail([...g(p), ...g(e), ...x.geU]),
    ...at(),
    ...x.tee(c),
    ...k32(34),
    ...x.eq,
    ...x.brIf(1),
    ...fail([...g(c), ...k32(44), ...x.ne]),
    ...bump(p, 1),
    ...x.br(0),
    ...x.end,
    ...x.end,
    ...bump(p, 1),
    ...x.end,
  ];
}

/** `latency_ms`, as _canonical_bytes.ts's `latency` reads it. */
function latencyValue(): number[] {
  return [
    ...countDigits(n),
    ...fail([...g(n), ...k32(1), ...x.sub32, ...k32(14), ...x.gtU]), // 0 or more than 15
    ...fail([...g(n), ...k32(1), ...x.gtU, ...at(), ...k32(48), ...x.eq, ...x.and32]),
    ...g(p),
    ...g(n),
    ...x.add32,
    ...x.set(p),
    ...g(p),
    ...g(e),
    ...x.ltU,
    ...at(),
    ...k32(46),
    ...x.eq,
    ...x.and32,
    ...x.if,
    ...bump(p, 1),
    ...countDigits(f),
    ...fail([...g(f), ...k32(1), ...x.sub32, ...k32(16), ...x.gtU]), // 0 or more than 17
    // the fraction's last digit is not 0
    ...fail([
      ...g(p),
      ...g(f),
      ...x.add32,
      ...k32(1),
      ...x.sub32,
      ...x.load8(0),
      ...k32(48),
      ...x.eq,
    ]),
    ...g(n),
    ...k32(1),
    ...x.eq,
    ...g(s),
    ...x.load8(0),
    ...k32(48),
    ...x.eq,
    ...x.and32,
    ...x.if,
    // z = the fraction's leading zeros
    ...k32(0),
    ...x.set(z),
    ...x.block,
    ...x.loop,
    ...g(p),
    ...g(z),
    ...x.add32,
    ...x.load8(0),
    ...k32(48),
    ...x.ne,
    ...x.brIf(1),
    ...bump(z, 1),
    ...x.br(0),
    ...x.end,
    ...x.end,
    ...fail([
      ...g(z),
      ...k32(5),
      ...x.gtU,
      ...g(f),
      ...g(z),
      ...x.sub32,
      ...k32(15),
      ...x.gtU,
      ...x.or32,
    ]),
    ...x.else,
    ...fail([...g(n), ...g(f), ...x.add32, ...k32(15), ...x.gtU]),
    ...x.end,
    ...g(p),
    ...g(f),
    ...x.add32,
    ...x.set(p),
    ...x.end,
  ];
}

/** `"` then exactly 12 digits then `"`. */
function account(): number[] {
  const code = [
    ...fail(past(14)),
    ...fail([...at(0), ...k32(34), ...x.ne, ...at(13), ...k32(34), ...x.ne, ...x.or32]),
  ];
  const digits: number[] = [];
  for (let i = 1; i <= 12; i++) {
    digits.push(...at(i), ...k32(48), ...x.sub32, ...k32(9), ...x.gtU);
    if (i > 1) digits.push(...x.or32);
  }
  return [...code, ...fail(digits), ...bump(p, 14)];
}

/** `null`, or 3 digits from 100 to 599 (followed by no digit). */
function httpStatus(): number[] {
  return [
    ...g(p),
    ...k32(4),
    ...x.add32,
    ...g(e),
    ...x.leU,
    ...g(p),
    ...x.load32(0),
    ...k32(0x6c6c756e), // "null"
    ...x.eq,
    ...x.and32,
    ...x.if,
    ...bump(p, 4),
    ...x.else,
    ...countDigits(n),
    ...fail([...g(n), ...k32(3), ...x.ne]),
    ...fail([...at(), ...k32(49), ...x.sub32, ...k32(4), ...x.gtU]),
    ...bump(p, 3),
    ...x.end,
  ];
}

// deno-fmt-ignore
/**
 * Copies the value [s, p) to o, 8 bytes at a time (the last word may write past the value: the
 * next writes start at its end, and the memory has slack), then o past it and `sep` written.
 * (A loop of loads and stores: memory.copy costs a call out of the module for a few bytes.)
 */
const emit = (sep: number) => [
  ...g(p), ...g(s), ...x.sub32, ...x.set(n), ...k32(0), ...x.set(z),
  ...x.block, ...x.loop,
  ...g(o), ...g(z), ...x.add32, ...g(s), ...g(z), ...x.add32, ...x.load64(0), ...x.store64(0),
  ...bump(z, 8), ...g(z), ...g(n), ...x.ltU, ...x.brIf(0),
  ...x.end, ...x.end,
  ...g(o), ...g(n), ...x.add32, ...x.tee(o), ...k32(sep), ...x.store8(0),
  ...bump(o, 1),
];

const VALUES: (() => number[])[] = [
  () => text(1, 128, true),
  () => integer(0, true),
  () => integer(1),
  ipv4,
  ipv4,
  () => bounded(5, 65535),
  () => bounded(5, 65535),
  () => oneOf(list('"TCP"', '"UDP"', '"ICMP"')),
  () => integer(0),
  () => integer(0),
  () => integer(0),
  latencyValue,
  tcpFlags,
  httpStatus,
  () => oneOf(list('"ACCEPT"', '"REJECT"')),
  () => oneOf(list('"ingress"', '"egress"')),
  account,
  () => text(1, 64),
  () => text(1, 64),
  () => text(1, 32),
];

// deno-fmt-ignore
const SCAN_BODY = [
  ...LOCALS,
  ...g(p), ...x.set(p0), ...g(o), ...x.set(o0),
  ...g(o), ...k32(91), ...x.store8(0), ...bump(o, 1), // [
  ...VALUES.flatMap((value, i) => [
    ...key(KEYS[i]), ...g(p), ...x.set(s), ...value(), ...emit(i === VALUES.length - 1 ? 93 : 44),
    ...(i === 1 ? [...k32(0), ...g(v), ...x.f64FromU64, ...x.storeF64(RES + 16)] : []),
  ]),
  // } and the end
  ...fail([...g(p), ...k32(1), ...x.add32, ...g(e), ...x.ne, ...at(), ...k32(125), ...x.ne, ...x.or32]),
  ...k32(0), ...g(idS), ...x.store32(RES),
  ...k32(0), ...g(idE), ...x.store32(RES + 4),
  ...k32(0), ...g(h), ...x.store32(RES + 8),
  ...k32(0), ...g(o), ...g(o0), ...x.sub32, ...x.store32(RES + 12),
  // the raw digest (kept at RAW), then the canonical one (at OUT)
  ...g(p0), ...g(e), ...g(p0), ...x.sub32, ...k32(0), ...x.call(0),
  ...k32(0), ...k32(0), ...x.load64(OUT), ...x.store64(RAW),
  ...k32(0), ...k32(0), ...x.load64(OUT + 8), ...x.store64(RAW + 8),
  ...g(o0), ...g(o), ...g(o0), ...x.sub32, ...k32(16), ...x.call(0),
  ...k32(1),
  ...x.end,
];

const body = (b: number[]) => [...uleb(b.length), ...b];

const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  // types: 0 (i32, i32, i32) -> (); 1 (i32, i32, i32) -> i32
  ...section(1, [2, 0x60, 3, I32, I32, I32, 0, 0x60, 3, I32, I32, I32, 1, I32]),
  ...section(3, [2, 0, 1]), // sip: type 0; scan: type 1
  ...section(5, [1, 0, 1]), // one memory
  ...section(7, [2, ...name("scan"), 0, 1, ...name("mem"), 2, 0]),
  ...section(10, [2, ...body(SIP_BODY), ...body(SCAN_BODY)]),
]);

const compiled = new WebAssembly.Module(MODULE);

/** A thread's canonical scanner under one audit key. */
export class WasmCanonical {
  readonly #scan: (ptr: number, end: number, out: number) => number;
  readonly #memory: WebAssembly.Memory;
  #bytes!: Uint8Array;
  #words!: Uint32Array;
  #res!: Int32Array;
  #seq!: Float64Array;
  /** Where the last value scanned began in its buffer, less DATA (for the producer_id's span). */
  #shift = 0;
  /** The last value's length (its form follows it). */
  #len = 0;

  /** `key`: the audit key's 32 bytes (raw digests under the first 16, canonical the last 16). */
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError(`an audit key is 32 bytes, got ${key.length}`);
    const instance = new WebAssembly.Instance(compiled);
    this.#scan = instance.exports.scan as (ptr: number, end: number, out: number) => number;
    this.#memory = instance.exports.mem as WebAssembly.Memory;
    this.#views();
    this.#bytes.set(key, 0);
  }

  /**
   * Whether `buf[start, end)` is an event in the canonical layout; when it is, `seq`, `idStart`,
   * `idEnd`, `idHash`, `canonLength`, `canonical()` and the digests in `words` describe it until
   * the next call. The value is copied into the module's memory: `buf` is not kept.
   */
  scan(buf: Uint8Array, start: number, end: number): boolean {
    const len = end - start;
    if (DATA + 2 * len + SLACK > this.#capacity) this.#grow(DATA + 2 * len + SLACK);
    this.#bytes.set(start === 0 && end === buf.length ? buf : buf.subarray(start, end), DATA);
    this.#shift = start - DATA;
    this.#len = len;
    return this.#scan(DATA, DATA + len, DATA + len) === 1;
  }

  /** The producer_id's bytes: `[idStart, idEnd)` of the buffer scanned. */
  get idStart(): number {
    return this.#res[0] + this.#shift;
  }
  get idEnd(): number {
    return this.#res[1] + this.#shift;
  }
  /** FNV-1a of the producer_id's bytes (as _canonical_bytes.ts's `idHash`). */
  get idHash(): number {
    return this.#res[2] >>> 0;
  }
  get canonLength(): number {
    return this.#res[3];
  }
  get seq(): number {
    return this.#seq[0];
  }
  /** The canonical form's bytes (a view into the module's memory, until the next call). */
  canonical(): Uint8Array {
    const from = DATA + this.#len;
    return this.#bytes.subarray(from, from + this.canonLength);
  }

  /** The raw digest's words: `words[RAW_WORD, RAW_WORD + 4)`; the canonical's from CANON_WORD. */
  get words(): Uint32Array {
    return this.#words;
  }

  /** The memory's size (read from a field: `memory.buffer` is not free). */
  #capacity = 0;

  #grow(need: number): void {
    this.#memory.grow(Math.ceil((need - this.#memory.buffer.byteLength) / PAGE));
    this.#views();
  }

  #views(): void {
    this.#capacity = this.#memory.buffer.byteLength;
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.#words = new Uint32Array(this.#memory.buffer);
    this.#res = new Int32Array(this.#memory.buffer, RES, 4);
    this.#seq = new Float64Array(this.#memory.buffer, RES + 16, 1);
  }
}

/** Where the digests are in `WasmCanonical.words`. */
export const RAW_WORD = RAW / 4;
export const CANON_WORD = OUT / 4;
