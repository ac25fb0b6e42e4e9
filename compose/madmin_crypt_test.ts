import assert from "node:assert/strict";
import {
  decryptData,
  encryptData,
  MadminCryptError,
  PBKDF2_AES_GCM,
  sioDecrypt,
  sioEncrypt,
} from "./madmin_crypt.ts";

const fromHex = (s: string) => new Uint8Array(s.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

// secure-io/sio-go v0.3.1's test_vectors.json (AES-128-GCM): an empty stream, one byte with
// associated data, a full fragment and one byte, two full fragments (the last full), three
// fragments of a 17-byte buffer.
const VECTORS = [
  {
    bufSize: 16,
    key: "00000000000000000000000000000000",
    nonce: "0000000000000000",
    ad: "",
    plaintext: "",
    ciphertext: "e0247a864e783cecb1f7996c13cd3f64",
  },
  {
    bufSize: 16,
    key: "10000000000000000000000000000000",
    nonce: "1000000000000000",
    ad: "00",
    plaintext: "00",
    ciphertext: "61ed193d12a2adf6f1c41f31de4ead6c5c",
  },
  {
    bufSize: 16,
    key: "10000000000000000000000000000000",
    nonce: "0000000000000002",
    ad: "",
    plaintext: "0000000000000000000000000000000000",
    ciphertext: "691deb7b9ccbee91f48d12c7ad5fe3cd4e1e5e7d394f06b91228ec9a5dd2456a" +
      "c7de9502a0b4010fb1ee1db94e940458fb",
  },
  {
    bufSize: 16,
    key: "000102030405060708090a0b0c0d0e0f",
    nonce: "0001020304050607",
    ad: "0102030405060708090a0b0c0d0e0f10",
    plaintext: "00".repeat(32),
    ciphertext: "beffe57efbdadb693b5545d58454ba746c5362c6f37b65da457d85bfe6af8972" +
      "cfea267b03f14aedf25e7501e88c0d79f5440d0ac49e5c4fdaab4dfac9aec4d3",
  },
  {
    bufSize: 17,
    key: "31dd758d120fd5d30063921a21f723be",
    nonce: "d3794fe387018e32",
    ad: "1d838b6e861ea7576de110e08818de82a27337a99db7b95aa95c3347971ad4cfa0ef0960d6645f5a64f88c7d",
    plaintext: "d0ae0d85e93ed6be853ded2031643116a03215b4fda224d2986d7233039aa47e91b686f4",
    ciphertext: "a6fe911b94e0b25a25bf6da71f28ad6a6b6920be01589e9194226f77c1646065" +
      "45d5cbdb76c99415b468c54517f5a8bc8dc8ac13b1b4285fe36f37f7884d5e4b" +
      "fb32ecef56b4026bf02bfb1d4fce222e01ef9db9",
  },
];

Deno.test("sioEncrypt() writes sio-go's test vectors, sioDecrypt() reads them", async (t) => {
  for (const [i, v] of VECTORS.entries()) {
    await t.step(`vector ${i}: ${v.plaintext.length / 2} bytes, buffer ${v.bufSize}`, async () => {
      const o = { bufSize: v.bufSize, associatedData: fromHex(v.ad) };
      const sealed = await sioEncrypt(fromHex(v.key), fromHex(v.nonce), fromHex(v.plaintext), o);
      assert.equal(toHex(sealed), v.ciphertext);
      const opened = await sioDecrypt(fromHex(v.key), fromHex(v.nonce), sealed, o);
      assert.equal(toHex(opened), v.plaintext);
    });
  }
});

Deno.test("sioDecrypt() refuses a stream altered, cut short, or with its fragments swapped", async () => {
  const v = VECTORS[4];
  const o = { bufSize: v.bufSize, associatedData: fromHex(v.ad) };
  const key = fromHex(v.key);
  const nonce = fromHex(v.nonce);
  const sealed = fromHex(v.ciphertext);
  const flipped = sealed.slice();
  flipped[3] ^= 1;
  const size = v.bufSize + 16;
  const swapped = new Uint8Array([
    ...sealed.subarray(size, 2 * size),
    ...sealed.subarray(0, size),
    ...sealed.subarray(2 * size),
  ]);
  for (const bad of [flipped, sealed.subarray(0, 2 * size), swapped]) {
    await assert.rejects(sioDecrypt(key, nonce, bad, o), MadminCryptError);
  }
  await assert.rejects(sioDecrypt(key, nonce, sealed, { bufSize: v.bufSize }), MadminCryptError);
});

Deno.test("encryptData() writes madmin's layout: salt, id 0x02, nonce, the stream", async (t) => {
  const data = new TextEncoder().encode(JSON.stringify({ secretKey: "s3cr3t", status: "enabled" }));
  const salt = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(8).fill(9);
  const out = await encryptData("root-secret", data, { salt, nonce });
  await t.step("layout", () => {
    assert.deepEqual(out.subarray(0, 32), salt);
    assert.equal(out[32], PBKDF2_AES_GCM);
    assert.deepEqual(out.subarray(33, 41), nonce);
    assert.equal(out.length, 41 + data.length + 16);
  });
  await t.step("decrypts with the password, not with another", async () => {
    assert.deepEqual(await decryptData("root-secret", out), data);
    await assert.rejects(decryptData("other", out), MadminCryptError);
    const argon = out.slice();
    argon[32] = 0x00;
    await assert.rejects(decryptData("root-secret", argon), /0x00 is not PBKDF2/);
  });
  await t.step("random salt and nonce by default; more than one fragment round-trips", async () => {
    const a = await encryptData("p", data);
    const b = await encryptData("p", data);
    assert.notDeepEqual(a.subarray(0, 41), b.subarray(0, 41));
    const big = crypto.getRandomValues(new Uint8Array(40_000));
    const sealed = await encryptData("p", big);
    assert.equal(sealed.length, 41 + big.length + 3 * 16);
    assert.deepEqual(await decryptData("p", sealed), big);
  });
  await assert.rejects(encryptData("p", data, { salt: new Uint8Array(16) }), RangeError);
});
