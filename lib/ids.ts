/**
 * Random identifiers and secrets.
 * @module
 */

/** Random hex of `bytes` bytes (secrets, credentials, unique names). */
export function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
