/**
 * The identity of a stored or produced line: `producer_id` and `seq`, read in
 * place for the layout the generator writes (`{"producer_id":"…","seq":N,…`)
 * and by pattern for anything else (another sink's serialization, a malformed
 * record whose identity survived).
 *
 * ```ts
 * import { eventIdentity } from "./identity.ts";
 * eventIdentity('{"producer_id":"r1-w0","seq":7,"ts_ms":1}'); // { producer_id: "r1-w0", seq: 7 }
 * ```
 * @module
 */

import { recoverIdentity } from "../pipeline/event.ts";

export const PREFIX = '{"producer_id":"';
export const SEQ = ',"seq":';

/** producer_id and seq of a line: the generator's layout fast, anything else by pattern. */
export function eventIdentity(line: string): { producer_id?: string; seq?: number } {
  if (line.startsWith(PREFIX)) {
    const end = line.indexOf('"', PREFIX.length);
    if (end > 0) {
      const seq = seqAt(line, end + 1, line.length);
      const id = line.slice(PREFIX.length, end);
      if (seq !== undefined && id.length > 0 && id.length <= 128 && !id.includes("\\")) {
        return { producer_id: id, seq };
      }
    }
  }
  return recoverIdentity(line);
}

/** The seq of `,"seq":N` at `i` (before `end`, followed by `,` or `}`), else undefined. */
function seqAt(text: string, i: number, end: number): number | undefined {
  if (!text.startsWith(SEQ, i)) return undefined;
  i += SEQ.length;
  let seq = 0;
  let digits = 0;
  for (let c = text.charCodeAt(i); i < end && c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
    seq = seq * 10 + (c - 48);
    digits++;
  }
  const next = text.charCodeAt(i);
  return digits > 0 && digits <= 15 && (next === 44 || next === 125) ? seq : undefined;
}
