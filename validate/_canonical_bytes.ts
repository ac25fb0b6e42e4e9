/**
 * The audit's fast path (topic_table.ts): an event's value bytes in the
 * generator's canonical layout (pipeline/event_text.ts: the schema's keys in
 * its order, no whitespace, no escapes, integers without sign, fraction or
 * exponent) read in one pass over the bytes, with no string and no object:
 * whether they are that layout, the producer_id's bytes and the seq, and the
 * event's canonical form (digest.ts `canonicalForm`: its values in the
 * schema's order, `[v1,v2,…]`) written out, byte for byte what
 * `JSON.stringify` makes of the parsed event.
 *
 * Narrower than event_text.ts's pattern, so that the canonical form is the
 * values' own bytes: strings of printable ASCII only (no byte ≥ 0x80), and a
 * `latency_ms` whose text is the one `JSON.stringify` gives its number (no
 * trailing zero in its fraction, at most 15 significant digits, not below
 * 1e-6). Anything else is "not canonical" (`false`): the caller decodes,
 * parses and validates it the slow way, which decides. The fast path may say
 * "not canonical" where the schema says yes, never "valid" where it says no
 * (canonical_bytes_test.ts holds it to the slow path on the generator's
 * events, every corruption of malformed.ts and thousands of mutations).
 *
 * The readable statement of the fast path's rules: the audit runs them as
 * WebAssembly (_wasm_canonical.ts, with the digests in the same call), held
 * to this function by wasm_canonical_test.ts.
 * @module
 */

const enc = new TextEncoder();
const KEY_NAMES = [
  "producer_id",
  "seq",
  "ts_ms",
  "src_ip",
  "dst_ip",
  "src_port",
  "dst_port",
  "protocol",
  "bytes_out",
  "bytes_in",
  "packets",
  "latency_ms",
  "tcp_flags",
  "http_status",
  "action",
  "flow_direction",
  "account_id",
  "vpc_id",
  "interface_id",
  "region",
] as const;
/** `{"producer_id":`, `,"seq":`, …: what comes before each value. */
export const KEYS = KEY_NAMES.map((k, i) => enc.encode(`${i === 0 ? "{" : ","}"${k}":`));
/** Each key as big-endian 32-bit words (its last bytes, fewer than 4, compared one by one). */
const KEY_WORDS = KEYS.map((k) => {
  const v = new DataView(k.buffer);
  return Int32Array.from({ length: k.length >> 2 }, (_, i) => v.getInt32(4 * i));
});

/** What `readCanonical` found, valid until its next call. */
export interface CanonicalRead {
  /** The producer_id's bytes: `[idStart, idEnd)` of the input. */
  idStart: number;
  idEnd: number;
  /** A hash of the producer_id's bytes (to find its name without making a string). */
  idHash: number;
  seq: number;
  /** Bytes of the canonical form written to `out` from `outAt`. */
  canonLength: number;
}

const Q = 34; // "
const ZERO = 48;

/** The reader's state: input, position, end; output, position. */
let B: Uint8Array = new Uint8Array(0);
/** A view of B's buffer (made again only when B's buffer changes). */
let V: DataView = new DataView(new ArrayBuffer(0));
let VB: ArrayBufferLike = V.buffer;
/** B's first byte in V. */
let VO = 0;
let P = 0;
let E = 0;
let O: Uint8Array = new Uint8Array(0);
let W = 0;

// (The loops read the state into locals: module variables are slower to read and write.)
function key(index: number): boolean {
  const k = KEYS[index], words = KEY_WORDS[index];
  const n = k.length, b = B, p = P;
  if (p + n > E) return false;
  const v = V, at = VO + p, w = words.length;
  for (let i = 0; i < w; i++) if (v.getInt32(at + 4 * i) !== words[i]) return false;
  for (let i = 4 * w; i < n; i++) if (b[p + i] !== k[i]) return false;
  P = p + n;
  return true;
}

/** A JSON string of `min` to `max` printable ASCII bytes, no quote nor backslash; copied. */
function text(min: number, max: number): boolean {
  if (P >= E || B[P] !== Q) return false;
  const from = P, b = B, e = E;
  let i = from + 1;
  for (; i < e; i++) {
    const c = b[i];
    if (c === Q) break;
    if (c < 0x20 || c > 0x7f || c === 92) return false;
  }
  const n = i - from - 1;
  if (i >= e || n < min || n > max) return false;
  copy(from, i + 1);
  P = i + 1;
  return true;
}

function copy(from: number, to: number): void {
  const o = O, b = B;
  let w = W;
  for (let i = from; i < to; i++) o[w++] = b[i];
  W = w;
}

/** Digits from P (at most `max`): how many, P after them. */
function digits(max: number): number {
  const b = B, e = E, p = P;
  let i = p;
  while (i < e && b[i] >= ZERO && b[i] <= ZERO + 9) i++;
  const n = i - p;
  return n > max ? -1 : n;
}

/** An integer ≥ 0 of at most 15 digits, no leading zero (`first`: the least first digit); copied. */
function integer(first: number): number {
  const b = B, e = E, o = O;
  let p = P, w = W;
  const c0 = b[p];
  if (p >= e || c0 < ZERO + first || c0 > ZERO + 9) return -1;
  let v = 0;
  if (c0 === ZERO) {
    o[w++] = c0;
    p++;
    if (p < e && b[p] >= ZERO && b[p] <= ZERO + 9) return -1; // a leading zero
  } else {
    const from = p;
    for (; p < e; p++) {
      const c = b[p];
      if (c < ZERO || c > ZERO + 9) break;
      v = v * 10 + (c - ZERO);
      o[w++] = c;
    }
    if (p - from > 15) return -1;
  }
  P = p;
  W = w;
  return v;
}

/** An integer of 1 to `maxDigits` digits, no leading zero, at most `max`; copied. */
function bounded(maxDigits: number, max: number): boolean {
  const n = digits(maxDigits);
  if (n <= 0 || (n > 1 && B[P] === ZERO)) return false;
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 10 + (B[P + i] - ZERO);
  if (v > max) return false;
  copy(P, P + n);
  P += n;
  return true;
}

/** `"a.b.c.d"`, each 0 to 255 without a leading zero; copied. */
function ipv4(): boolean {
  if (P >= E || B[P] !== Q) return false;
  O[W++] = Q;
  P++;
  for (let k = 0; k < 4; k++) {
    if (k > 0) {
      if (P >= E || B[P] !== 46) return false;
      O[W++] = 46;
      P++;
    }
    if (!bounded(3, 255)) return false;
  }
  if (P >= E || B[P] !== Q) return false;
  O[W++] = Q;
  P++;
  return true;
}

/** One of `words` (each a JSON string's bytes, quotes included); copied. */
function oneOf(words: readonly Uint8Array[]): boolean {
  for (const w of words) {
    if (P + w.length > E) continue;
    let same = true;
    for (let i = 0; i < w.length; i++) {
      if (B[P + i] !== w[i]) {
        same = false;
        break;
      }
    }
    if (same) {
      copy(P, P + w.length);
      P += w.length;
      return true;
    }
  }
  return false;
}

const words = (...w: string[]) => w.map((s) => enc.encode(s));
const PROTOCOLS = words('"TCP"', '"UDP"', '"ICMP"');
const ACTIONS = words('"ACCEPT"', '"REJECT"');
const DIRECTIONS = words('"ingress"', '"egress"');
const NULL = words("null");
const FLAGS = words("SYN", "ACK", "FIN", "RST", "PSH", "URG");

/** `"FLAG,FLAG,…"` or `""`; copied. */
function tcpFlags(): boolean {
  if (P >= E || B[P] !== Q) return false;
  O[W++] = Q;
  P++;
  if (P < E && B[P] === Q) {
    O[W++] = Q;
    P++;
    return true;
  }
  for (;;) {
    if (!oneOf(FLAGS)) return false;
    if (P >= E) return false;
    if (B[P] === Q) break;
    if (B[P] !== 44) return false;
    O[W++] = 44;
    P++;
  }
  O[W++] = Q;
  P++;
  return true;
}

/**
 * `latency_ms`: an integer of at most 15 digits, or one with a fraction whose text is the one
 * `JSON.stringify` writes for its number (see the module doc); copied.
 */
function latency(): boolean {
  const from = P;
  const n = digits(15);
  if (n <= 0 || (n > 1 && B[P] === ZERO)) return false;
  P += n;
  if (P < E && B[P] === 46) {
    P++;
    const f = digits(17);
    if (f <= 0 || B[P + f - 1] === ZERO) return false;
    if (n === 1 && B[from] === ZERO) {
      let z = 0;
      while (B[P + z] === ZERO) z++;
      if (z > 5 || f - z > 15) return false;
    } else if (n + f > 15) return false;
    P += f;
  }
  copy(from, P);
  return true;
}

/** `"` then exactly 12 digits then `"`; copied. */
function account(): boolean {
  if (P + 14 > E || B[P] !== Q || B[P + 13] !== Q) return false;
  for (let i = 1; i <= 12; i++) if (B[P + i] < ZERO || B[P + i] > ZERO + 9) return false;
  copy(P, P + 14);
  P += 14;
  return true;
}

/**
 * Reads `buf[start, end)` as an event in the canonical layout, writing its canonical form to
 * `out` from `outAt` (`out` must hold `end - start + 2` bytes from there: the form is shorter
 * than the text). Returns false when it is not in that layout (then `read` is left partly
 * written and `out`'s bytes mean nothing).
 */
export function readCanonical(
  buf: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  outAt: number,
  read: CanonicalRead,
): boolean {
  B = buf;
  if (buf.buffer !== VB) {
    VB = buf.buffer;
    V = new DataView(VB);
  }
  VO = buf.byteOffset;
  P = start;
  E = end;
  O = out;
  W = outAt;
  O[W++] = 91; // [
  if (!key(0)) return false;
  read.idStart = P + 1;
  if (!text(1, 128)) return false;
  read.idEnd = P - 1;
  let h = 0x811c9dc5;
  for (let i = read.idStart; i < read.idEnd; i++) h = Math.imul(h ^ B[i], 0x01000193);
  read.idHash = h >>> 0;
  O[W++] = 44;
  if (!key(1)) return false;
  const seq = integer(0);
  if (seq < 0) return false;
  read.seq = seq;
  O[W++] = 44;
  if (!key(2) || integer(1) < 0) return false;
  O[W++] = 44;
  if (!key(3) || !ipv4()) return false;
  O[W++] = 44;
  if (!key(4) || !ipv4()) return false;
  O[W++] = 44;
  if (!key(5) || !bounded(5, 65535)) return false;
  O[W++] = 44;
  if (!key(6) || !bounded(5, 65535)) return false;
  O[W++] = 44;
  if (!key(7) || !oneOf(PROTOCOLS)) return false;
  O[W++] = 44;
  if (!key(8) || integer(0) < 0) return false;
  O[W++] = 44;
  if (!key(9) || integer(0) < 0) return false;
  O[W++] = 44;
  if (!key(10) || integer(0) < 0) return false;
  O[W++] = 44;
  if (!key(11) || !latency()) return false;
  O[W++] = 44;
  if (!key(12) || !tcpFlags()) return false;
  O[W++] = 44;
  if (!key(13)) return false;
  if (!oneOf(NULL)) {
    const n = digits(3);
    if (n !== 3 || B[P] < ZERO + 1 || B[P] > ZERO + 5) return false;
    copy(P, P + 3);
    P += 3;
  }
  O[W++] = 44;
  if (!key(14) || !oneOf(ACTIONS)) return false;
  O[W++] = 44;
  if (!key(15) || !oneOf(DIRECTIONS)) return false;
  O[W++] = 44;
  if (!key(16) || !account()) return false;
  O[W++] = 44;
  if (!key(17) || !text(1, 64)) return false;
  O[W++] = 44;
  if (!key(18) || !text(1, 64)) return false;
  O[W++] = 44;
  if (!key(19) || !text(1, 32)) return false;
  if (P + 1 !== E || B[P] !== 125) return false; // }
  O[W++] = 93; // ]
  read.canonLength = W - outAt;
  return true;
}
