import assert from "node:assert/strict";
import { join } from "node:path";
import { deriveKey, HarnessKeyError, hmacHex, loadHarnessKey, readKeyFile } from "./harness_key.ts";

Deno.test("harness key: made on first use, owner-only, the same key after", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "cfg", "harness.key");
    const key = loadHarnessKey(path);
    assert.equal(key.length, 32);
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    assert.equal(Deno.statSync(join(dir, "cfg")).mode! & 0o777, 0o700);
    assert.deepEqual(loadHarnessKey(path), key);
    assert.throws(() => loadHarnessKey(join(dir, "none"), { create: false }), HarnessKeyError);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("harness key: a copied hex key reads back; anything else is refused", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const hex = join(dir, "hex.key");
    Deno.writeTextFileSync(hex, "00ff".repeat(16) + "\n", { mode: 0o600 });
    assert.deepEqual([...readKeyFile(hex)].slice(0, 2), [0, 255]);
    const bad = join(dir, "bad.key");
    Deno.writeTextFileSync(bad, "not a key", { mode: 0o600 });
    assert.throws(() => readKeyFile(bad), /not a harness key/);
    assert.throws(() => readKeyFile(join(dir, "missing")), HarnessKeyError);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("harness key: derived keys differ by purpose and context; HMAC is RFC 4231's", () => {
  const key = new Uint8Array(32).fill(7);
  const a = deriveKey(key, "seal", "run-1");
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, deriveKey(key, "seal", "run-2"));
  assert.notDeepEqual(a, deriveKey(key, "topic-audit", "run-1"));
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  assert.equal(
    hmacHex(new TextEncoder().encode("Jefe"), "what do ya want for nothing?"),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
});

Deno.test("harness key: a key file others may read or write is refused, naming the fix", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const open = join(dir, "open.key");
    Deno.writeFileSync(open, new Uint8Array(32).fill(7), { mode: 0o600 });
    for (const mode of [0o644, 0o640, 0o602]) {
      Deno.chmodSync(open, mode);
      assert.throws(
        () => readKeyFile(open),
        (e: Error) =>
          e instanceof HarnessKeyError && /open to other users/.test(e.message) &&
          e.message.includes(`chmod 600 ${open}`),
        mode.toString(8),
      );
      assert.throws(() => loadHarnessKey(open), HarnessKeyError, "also when loaded");
    }
    Deno.chmodSync(open, 0o400);
    assert.equal(readKeyFile(open)[0], 7, "owner-only (even read-only) is a key");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
