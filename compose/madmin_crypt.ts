/**
 * The encryption MinIO's admin API wants for a body that carries a secret (`add-user`):
 * madmin-go's `EncryptData(password, data)`, written with WebCrypto. The password is the
 * signing user's secret key. The ciphertext is
 *
 *     salt (32 random bytes) | id (1 byte) | nonce (8 random bytes) | sio stream of the data
 *
 * with id 0x02: the key is PBKDF2(SHA-256, 8192 iterations, 32 bytes) of the password and the
 * salt, the stream AES-256-GCM (madmin's FIPS choice; its `DecryptData` accepts it on any
 * server). The stream is secure-io/sio-go's: the data in fragments of 16 KiB, each sealed with
 * the 12-byte nonce `nonce | sequence number (uint32 LE, from 1)` and the associated data
 * `flag | tag`, where the tag is the AEAD's seal of nothing under sequence number 0 and flag is
 * 0x80 for the last fragment (which may be empty or full), 0x00 before.
 *
 * ```ts
 * import { encryptData } from "./madmin_crypt.ts";
 * const body = await encryptData(rootSecret, new TextEncoder().encode('{"secretKey":"…"}'));
 * ```
 * @module
 */

/** madmin's algorithm id of PBKDF2 + AES-256-GCM. */
export const PBKDF2_AES_GCM = 0x02;
const PBKDF2_ITERATIONS = 8192;
const SALT_BYTES = 32;
const NONCE_BYTES = 8;
const TAG_BYTES = 16;
/** sio-go's fragment size (its `BufSize`). */
export const SIO_BUF_SIZE = 1 << 14;
const FINAL = 0x80;

/** A ciphertext that cannot be decrypted: not madmin's format, or not authentic. */
export class MadminCryptError extends Error {
  override name = "MadminCryptError";
}

type Bytes = Uint8Array<ArrayBuffer>;

function concat(...parts: ArrayLike<number>[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The 12-byte AEAD nonce of fragment `seq`: the stream's nonce, then `seq` as uint32 LE. */
function fragmentNonce(nonce: Uint8Array, seq: number): Bytes {
  const out = new Uint8Array(nonce.length + 4);
  out.set(nonce);
  new DataView(out.buffer).setUint32(nonce.length, seq, true);
  return out;
}

function aesKey(key: Uint8Array, use: "encrypt" | "decrypt"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", key as Bytes, "AES-GCM", false, [use]);
}

async function seal(key: CryptoKey, iv: Bytes, data: Uint8Array, ad: Uint8Array) {
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: ad as Bytes, tagLength: TAG_BYTES * 8 },
    key,
    data as Bytes,
  );
  return new Uint8Array(sealed);
}

/** The associated data of every fragment but the flag: the seal of nothing under sequence 0. */
async function streamTag(key: CryptoKey, nonce: Uint8Array, ad: Uint8Array): Promise<Bytes> {
  return concat([0x00], await seal(key, fragmentNonce(nonce, 0), new Uint8Array(), ad));
}

/**
 * sio-go's AES-GCM stream of `plaintext` under `key` (16 or 32 bytes) and the 8-byte `nonce`.
 * `bufSize` and `associatedData` are sio's (defaults: 16 KiB, none); madmin uses the defaults.
 */
export async function sioEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  options: { bufSize?: number; associatedData?: Uint8Array } = {},
): Promise<Uint8Array> {
  const bufSize = options.bufSize ?? SIO_BUF_SIZE;
  const k = await aesKey(key, "encrypt");
  const ad = await streamTag(k, nonce, options.associatedData ?? new Uint8Array());
  // Every fragment but the last is full; the last holds the rest, 1..bufSize bytes (0 if none).
  const fragments = Math.max(1, Math.ceil(plaintext.length / bufSize));
  const out: Uint8Array[] = [];
  for (let i = 0; i < fragments; i++) {
    const last = i === fragments - 1;
    if (last) ad[0] = FINAL;
    const chunk = plaintext.subarray(i * bufSize, last ? plaintext.length : (i + 1) * bufSize);
    out.push(await seal(k, fragmentNonce(nonce, i + 1), chunk, ad));
  }
  return concat(...out);
}

/** The inverse of `sioEncrypt`; a stream altered, cut short or extended is refused. */
export async function sioDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  options: { bufSize?: number; associatedData?: Uint8Array } = {},
): Promise<Uint8Array> {
  const bufSize = options.bufSize ?? SIO_BUF_SIZE;
  const size = bufSize + TAG_BYTES;
  const ad = await streamTag(
    await aesKey(key, "encrypt"),
    nonce,
    options.associatedData ?? new Uint8Array(),
  );
  const k = await aesKey(key, "decrypt");
  const fragments = Math.max(1, Math.ceil(ciphertext.length / size));
  const out: Uint8Array[] = [];
  for (let i = 0; i < fragments; i++) {
    const last = i === fragments - 1;
    if (last) ad[0] = FINAL;
    const chunk = ciphertext.subarray(i * size, last ? ciphertext.length : (i + 1) * size);
    try {
      const opened = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: fragmentNonce(nonce, i + 1), additionalData: ad, tagLength: 128 },
        k,
        chunk as Bytes,
      );
      out.push(new Uint8Array(opened));
    } catch (error) {
      throw new MadminCryptError(`sio: fragment ${i + 1} of ${fragments} is not authentic`, {
        cause: error,
      });
    }
  }
  return concat(...out);
}

/** madmin's PBKDF2 key of `password` and `salt`. */
async function pbkdf2Key(password: string, salt: Uint8Array): Promise<Uint8Array> {
  const base = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Bytes, iterations: PBKDF2_ITERATIONS },
    base,
    256,
  );
  return new Uint8Array(bits);
}

/**
 * madmin's `EncryptData(password, data)` with id 0x02 (PBKDF2 + AES-256-GCM). `salt` and
 * `nonce` are drawn at random unless given (tests).
 */
export async function encryptData(
  password: string,
  data: Uint8Array,
  options: { salt?: Uint8Array; nonce?: Uint8Array } = {},
): Promise<Uint8Array> {
  const salt = options.salt ?? crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const nonce = options.nonce ?? crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  if (salt.length !== SALT_BYTES || nonce.length !== NONCE_BYTES) {
    throw new RangeError(
      `madmin wants a ${SALT_BYTES}-byte salt and an ${NONCE_BYTES}-byte nonce, ` +
        `got ${salt.length} and ${nonce.length}`,
    );
  }
  const stream = await sioEncrypt(await pbkdf2Key(password, salt), nonce, data);
  return concat(salt, [PBKDF2_AES_GCM], nonce, stream);
}

/** madmin's `DecryptData` for id 0x02 (the only one this module writes). */
export async function decryptData(password: string, data: Uint8Array): Promise<Uint8Array> {
  const head = SALT_BYTES + 1 + NONCE_BYTES;
  if (data.length < head + TAG_BYTES) {
    throw new MadminCryptError(`madmin ciphertext too short: ${data.length} bytes`);
  }
  const id = data[SALT_BYTES];
  if (id !== PBKDF2_AES_GCM) {
    throw new MadminCryptError(`madmin algorithm id 0x0${id.toString(16)} is not PBKDF2+AES-GCM`);
  }
  const key = await pbkdf2Key(password, data.subarray(0, SALT_BYTES));
  return await sioDecrypt(key, data.subarray(SALT_BYTES + 1, head), data.subarray(head));
}
