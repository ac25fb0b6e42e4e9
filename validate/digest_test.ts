import assert from "node:assert/strict";
import { WasmHasher } from "./_wasm_hash.ts";
import { canonicalDigest, hashBytes, hashText } from "./digest.ts";

function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

Deno.test("hashBytes: the WebAssembly function gives the JavaScript one's hashes", () => {
  const bytes = random(70_000);
  const hasher = new WasmHasher();
  hasher.load(bytes);
  for (let n = 0; n < 2000; n++) {
    const from = (n * 7919) % 69_000;
    const to = from + (n % 97);
    const seed = (n * 2654435761) >>> 0;
    assert.equal(hasher.hash(from, to, seed), hashBytes(bytes, seed, from, to), `${from}..${to}`);
  }
  // Larger than the first page: the memory grows.
  const big = random(200_000);
  hasher.load(big);
  assert.equal(hasher.hash(3, 199_999, 42), hashBytes(big, 42, 3, 199_999));
});

Deno.test("digests: keyed, and a byte or a field changed changes them", () => {
  const line = new TextEncoder().encode('{"producer_id":"a","seq":1}');
  assert.notEqual(hashBytes(line, 1), hashBytes(line, 2));
  const other = line.slice();
  other[other.length - 2] = 50;
  assert.notEqual(hashBytes(line, 1), hashBytes(other, 1));
  assert.notEqual(hashText("ab", 1), hashText("ba", 1));
  const event = { producer_id: "a", seq: 1, bytes_out: 10 };
  assert.equal(
    canonicalDigest(event, 5),
    canonicalDigest({ bytes_out: 10, seq: 1, producer_id: "a" }, 5),
  );
  assert.notEqual(canonicalDigest(event, 5), canonicalDigest({ ...event, bytes_out: 11 }, 5));
});
