/**
 * The harness's own secret: 32 random bytes in a key file outside every run
 * folder, readable by its owner only, made on first use. Everything a run must
 * be able to prove later is derived from it: the run folder's seal, the
 * topic audit's digest key, the webhook secret kept for re-checking. Whoever
 * holds the file can re-check a run; a submission, which runs as another user,
 * cannot read it.
 *
 * The file is `$CHAOS_KEY_FILE`, else `$XDG_CONFIG_HOME/chaos-harness/harness.key`,
 * else `~/.config/chaos-harness/harness.key`.
 *
 * ```ts
 * import { deriveKey, loadHarnessKey } from "./harness_key.ts";
 * const key = loadHarnessKey(); // made on first use
 * const auditKey = deriveKey(key, "topic-audit", "run-20261205-1"); // 32 bytes
 * ```
 * @module
 */

import { createHmac } from "node:crypto";
import { dirname, join } from "node:path";

/** A key file that exists but cannot be used (wrong size, unreadable, open to others). */
export class HarnessKeyError extends Error {
  override name = "HarnessKeyError";
}

const KEY_BYTES = 32;

/** Where the harness's key file is (see the module's doc). */
export function harnessKeyPath(): string {
  const explicit = Deno.env.get("CHAOS_KEY_FILE");
  if (explicit) return explicit;
  const config = Deno.env.get("XDG_CONFIG_HOME") ||
    join(Deno.env.get("HOME") ?? "/root", ".config");
  return join(config, "chaos-harness", "harness.key");
}

/**
 * Reads a key file: 32 bytes, or 64 hex digits (a key copied by hand). A file that its group or
 * other users may read or write is refused (as ssh refuses such a private key): whoever reads it
 * can make seals and digests that check, so it is no proof of anything.
 */
export function readKeyFile(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    const mode = Deno.statSync(path).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      throw new HarnessKeyError(
        `the key file ${path} is open to other users (mode ${(mode & 0o777).toString(8)}): ` +
          `make it readable by its owner only (chmod 600 ${path})`,
      );
    }
    bytes = Deno.readFileSync(path);
  } catch (error) {
    if (error instanceof HarnessKeyError) throw error;
    throw new HarnessKeyError(`cannot read the key file ${path}: ${(error as Error).message}`);
  }
  if (bytes.length === KEY_BYTES) return bytes;
  const text = new TextDecoder().decode(bytes).trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) {
    return Uint8Array.from(text.match(/../g)!.map((h) => parseInt(h, 16)));
  }
  throw new HarnessKeyError(
    `${path} is not a harness key (32 bytes, or 64 hex digits; it holds ${bytes.length} bytes)`,
  );
}

/**
 * The harness's key: read from `path` (default `harnessKeyPath()`), or made there (mode 0600,
 * its folder 0700) when it does not exist and `create` is not false.
 */
export function loadHarnessKey(
  path = harnessKeyPath(),
  options: { create?: boolean } = {},
): Uint8Array {
  try {
    Deno.statSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    if (options.create === false) throw new HarnessKeyError(`no key file at ${path}`);
    Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
    try {
      // createNew: two runs starting at once keep the first one's key.
      Deno.writeFileSync(path, key, { mode: 0o600, createNew: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
  return readKeyFile(path);
}

/** A 32-byte key for one purpose and one run: HMAC-SHA-256(key, purpose NUL context). */
export function deriveKey(key: Uint8Array, purpose: string, context = ""): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(`${purpose}\0${context}`).digest());
}

/** HMAC-SHA-256 of `data` under `key`, as hex (a seal's tag). */
export function hmacHex(key: Uint8Array, data: string | Uint8Array): string {
  return createHmac("sha256", key).update(data).digest("hex");
}
