import assert from "node:assert/strict";
import { WasmSipHash } from "./_wasm_hash.ts";
import { auditKey, canonicalForm, Digester, randomAuditKey, sipHash128 } from "./digest.ts";

/**
 * SipHash-2-4 with a 128-bit output: the paper's test vectors (the reference implementation's
 * `vectors_sip128`): key 00 01 … 0f, message 00 01 … (i - 1) of i bytes, for i = 0 … 63.
 */
const VECTORS = [
  "a3817f04ba25a8e66df67214c7550293",
  "da87c1d86b99af44347659119b22fc45",
  "8177228da4a45dc7fca38bdef60affe4",
  "9c70b60c5267a94e5f33b6b02985ed51",
  "f88164c12d9c8faf7d0f6e7c7bcd5579",
  "1368875980776f8854527a07690e9627",
  "14eeca338b208613485ea0308fd7a15e",
  "a1f1ebbed8dbc153c0b84aa61ff08239",
  "3b62a9ba6258f5610f83e264f31497b4",
  "264499060ad9baabc47f8b02bb6d71ed",
  "00110dc378146956c95447d3f3d0fbba",
  "0151c568386b6677a2b4dc6f81e5dc18",
  "d626b266905ef35882634df68532c125",
  "9869e247e9c08b10d029934fc4b952f7",
  "31fcefac66d7de9c7ec7485fe4494902",
  "5493e99933b0a8117e08ec0f97cfc3d9",
  "6ee2a4ca67b054bbfd3315bf85230577",
  "473d06e8738db89854c066c47ae47740",
  "a426e5e423bf4885294da481feaef723",
  "78017731cf65fab074d5208952512eb1",
  "9e25fc833f2290733e9344a5e83839eb",
  "568e495abe525a218a2214cd3e071d12",
  "4a29b54552d16b9a469c10528eff0aae",
  "c9d184ddd5a9f5e0cf8ce29a9abf691c",
  "2db479ae78bd50d8882a8a178a6132ad",
  "8ece5f042d5e447b5051b9eacb8d8f6f",
  "9c0b53b4b3c307e87eaee08678141f66",
  "abf248af69a6eae4bfd3eb2f129eeb94",
  "0664da1668574b88b935f3027358aef4",
  "aa4b9dc4bf337de90cd4fd3c467c6ab7",
  "ea5c7f471faf6bde2b1ad7d4686d2287",
  "2939b0183223fafc1723de4f52c43d35",
  "7c3956ca5eeafc3e363e9d556546eb68",
  "77c6077146f01c32b6b69d5f4ea9ffcf",
  "37a6986cb8847edf0925f0f1309b54de",
  "a705f0e69da9a8f907241a2e923c8cc8",
  "3dc47d1f29c448461e9e76ed904f6711",
  "0d62bf01e6fc0e1a0d3c4751c5d3692b",
  "8c03468bca7c669ee4fd5e084bbee7b5",
  "528a5bb93baf2c9c4473cce5d0d22bd9",
  "df6a301e95c95dad97ae0cc8c6913bd8",
  "801189902c857f39e73591285e70b6db",
  "e617346ac9c231bb3650ae34ccca0c5b",
  "27d93437efb721aa401821dcec5adf89",
  "89237d9ded9c5e78d8b1c9b166cc7342",
  "4a6d8091bf5e7d651189fa94a250b14c",
  "0e33f96055e7ae893ffc0e3dcf492902",
  "e61c432b720b19d18ec8d84bdc63151b",
  "f7e5aef549f782cf379055a608269b16",
  "438d030fd0b7a54fa837f2ad201a6403",
  "a590d3ee4fbf04e3247e0d27f286423f",
  "5fe2c1a172fe93c4b15cd37caef9f538",
  "2c97325cbd06b36eb2133dd08b3a017c",
  "92c814227a6bca949ff0659f002ad39e",
  "dce850110bd8328cfbd50841d6911d87",
  "67f14984c7da791248e32bb5922583da",
  "1938f2cf72d54ee97e94166fa91d2a36",
  "74481e9646ed49fe0f6224301604698e",
  "57fca5de98a9d6d8006438d0583d8a1d",
  "9fecde1cefdc1cbed4763674d9575359",
  "e3040c00eb28f15366ca73cbd872e740",
  "7697009a6a831dfecca91c5993670f7a",
  "5853542321f567a005d547a4f04759bd",
  "5150d1772f50834a503e069a973fbd7c",
];

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const counting = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

Deno.test("sipHash128: the paper's SipHash-2-4-128 test vectors", () => {
  const key = counting(16);
  VECTORS.forEach((v, i) => assert.equal(hex(sipHash128(key, counting(i))), v, `${i} bytes`));
});

Deno.test("WasmSipHash: the paper's test vectors, under either key slot", () => {
  const keys = new Uint8Array(32);
  keys.set(counting(16), 0);
  keys.set(counting(16), 16);
  const h = new WasmSipHash(keys);
  h.load(counting(64));
  VECTORS.forEach((v, i) => {
    h.digest(0, i, 0);
    assert.equal(hex(h.bytes()), v, `slot 0, ${i} bytes`);
    h.digest(0, i, 1);
    assert.equal(hex(h.bytes()), v, `slot 1, ${i} bytes`);
  });
});

Deno.test("WasmSipHash: the reference's digests on random keys, data and ranges", () => {
  const keys = random(32);
  const h = new WasmSipHash(keys);
  const bytes = random(70_000);
  h.load(bytes);
  for (let n = 0; n < 600; n++) {
    const from = (n * 7919) % 69_000;
    const to = from + (n % 211);
    const slot = (n % 2) as 0 | 1;
    h.digest(from, to, slot);
    const expected = sipHash128(keys.subarray(16 * slot, 16 * slot + 16), bytes.subarray(from, to));
    assert.equal(hex(h.bytes()), hex(expected), `${from}..${to} slot ${slot}`);
  }
  // Larger than the first page: the memory grows; the digest covers every byte.
  const big = random(200_000);
  h.load(big);
  h.digest(3, 199_999, 0);
  assert.equal(hex(h.bytes()), hex(sipHash128(keys.subarray(0, 16), big.subarray(3, 199_999))));
  // A new key gives new digests.
  h.setKeys(random(32));
  h.digest(3, 199_999, 0);
  assert.notEqual(hex(h.bytes()), hex(sipHash128(keys.subarray(0, 16), big.subarray(3, 199_999))));
  assert.throws(() => h.digest(0, 200_001, 0), RangeError);
});

Deno.test("WasmSipHash: digestText digests the text's UTF-8 bytes, whatever they hold", () => {
  const keys = random(32);
  const h = new WasmSipHash(keys);
  const texts = [
    "",
    "a",
    '["p-w0",1,"10.0.0.1"]',
    "é€😀 ascii then more ".repeat(9),
    "lone \ud800 surrogate \udfff end", // encoded as U+FFFD, as TextEncoder does
    "x".repeat(300_000), // larger than the memory: it grows
  ];
  for (const [i, text] of texts.entries()) {
    const slot = (i % 2) as 0 | 1;
    h.digestText(text, slot);
    const expected = sipHash128(
      keys.subarray(16 * slot, 16 * slot + 16),
      new TextEncoder().encode(text),
    );
    assert.equal(hex(h.bytes()), hex(expected), `text ${i}`);
  }
});

Deno.test("Digester: keyed, and a byte or a field changed changes the digests", () => {
  const key = randomAuditKey();
  const d = new Digester(key);
  const line = new TextEncoder().encode('{"producer_id":"a","seq":1}');
  const column = new Uint32Array(16);
  d.raw(line, column, 0);
  assert.ok(d.rawEquals(line, column, 0));
  assert.notEqual(hex(new Uint8Array(column.buffer, 0, 16)), "0".repeat(32));
  const other = line.slice();
  other[other.length - 2] = 50;
  assert.ok(!d.rawEquals(other, column, 0));
  assert.ok(!new Digester(randomAuditKey()).rawEquals(line, column, 0), "another key");
  const event = { producer_id: "a", seq: 1, bytes_out: 10 };
  d.canonical(event, column, 1);
  assert.ok(d.canonicalEquals({ bytes_out: 10, seq: 1, producer_id: "a" }, column, 1));
  assert.ok(!d.canonicalEquals({ ...event, bytes_out: 11 }, column, 1));
  // The raw and canonical digests are keyed apart: the canonical form's raw digest differs.
  d.raw(canonicalForm(event), column, 2);
  assert.notDeepEqual(column.subarray(4, 8), column.subarray(8, 12));
  assert.throws(() => new Digester(new Uint8Array(16)), RangeError);
});

Deno.test("auditKey: 32 bytes per harness key and run, never the same for two runs", () => {
  const harness = random(32);
  assert.equal(auditKey(harness, "run-1").length, 32);
  assert.deepEqual(auditKey(harness, "run-1"), auditKey(harness, "run-1"));
  assert.notDeepEqual(auditKey(harness, "run-1"), auditKey(harness, "run-2"));
  assert.notDeepEqual(auditKey(harness, "run-1"), auditKey(random(32), "run-1"));
});
