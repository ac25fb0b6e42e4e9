/**
 * A few Redis commands over one short-lived connection, with nothing but a
 * socket: the harness's probes and its script guard (chaos/redis_guard.ts)
 * need the exact answer (`+PONG`, `-BUSY …`, `-UNKILLABLE …`) and a hard
 * deadline, also from a Redis that is busy running someone's script (where a
 * client library's ready check and retries get in the way). `AUTH` goes first
 * when the address has a password (AUTH is answered even while Redis is busy).
 * Replies are read flat: simple strings, errors, integers and bulk strings as
 * they are, an array by its header only (`*2`: its elements follow as replies
 * of their own); `redisValues` reads them nested instead (arrays as arrays:
 * `SLOWLOG GET`), for commands with arrays for answers.
 *
 * ```ts
 * import { redisAddress, redisCommands } from "./redis_wire.ts";
 * const address = redisAddress("redis://:secret@127.0.0.1:29020");
 * const [pong] = await redisCommands(address, [["PING"]], { timeoutMs: 2000 });
 * pong; // { type: "+", text: "PONG" }; undefined: no answer in time
 * ```
 * @module
 */

/** Where Redis is and who the client is. */
export interface RedisAddress {
  host: string;
  port: number;
  /** None or `default`: `AUTH <password>`. */
  user?: string;
  password?: string;
}

/**
 * One reply: its type character and its text (an error keeps its code: `BUSY …`; a bulk string
 * its body; an array its length only).
 */
export interface RedisReply {
  /** `_`: a null bulk string (`$-1`). */
  type: "+" | "-" | ":" | "$" | "*" | "_";
  text: string;
}

/** A `redis://[user[:password]@]host[:port]` URL, decoded (a bad URL throws TypeError). */
export function redisAddress(url: string): RedisAddress {
  const u = new URL(url);
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: Number(u.port || 6379),
    ...(user && user !== "default" ? { user } : {}),
    ...(password ? { password } : {}),
  };
}

/** A command as RESP (an array of bulk strings: any bytes in an argument are safe). */
export function encodeCommand(args: readonly string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = args.map((a) => enc.encode(a));
  const head = enc.encode(`*${args.length}\r\n`);
  const chunks: Uint8Array[] = [head];
  for (const p of parts) chunks.push(enc.encode(`$${p.length}\r\n`), p, enc.encode("\r\n"));
  return concat(chunks);
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Reads complete replies off `text` (what came so far): the replies, and how many characters
 * they took (a reply not all come yet is left). An array's elements are replies of their own.
 */
export function parseReplies(text: string): { replies: RedisReply[]; used: number } {
  const replies: RedisReply[] = [];
  let at = 0;
  while (true) {
    const end = text.indexOf("\r\n", at);
    if (end < 0) break;
    const line = text.slice(at, end);
    const type = line[0];
    if (type === "$") {
      const length = Number(line.slice(1));
      if (length < 0) {
        replies.push({ type: "_", text: "" });
        at = end + 2;
        continue;
      }
      // Lengths count bytes: the body's characters are walked until they make `length` bytes
      // (never the whole rest re-encoded per reply: a long array of bulks stays linear).
      const bodyEnd = byteSpan(text, end + 2, length);
      if (bodyEnd === undefined || bodyEnd + 2 > text.length) break; // not all come yet
      replies.push({ type: "$", text: text.slice(end + 2, bodyEnd) });
      at = bodyEnd + 2;
      continue;
    }
    if (type !== "+" && type !== "-" && type !== ":" && type !== "*") {
      throw new RedisWireError(`not a Redis reply: ${JSON.stringify(line.slice(0, 80))}`);
    }
    replies.push({ type, text: line.slice(1) });
    at = end + 2;
  }
  return { replies, used: at };
}

/** A reply read nested: an array's elements in a JS array, anything else as `RedisReply`. */
export type RedisValue = RedisReply | RedisValue[];

/**
 * Nests flat replies (`parseReplies`): an array header (`*N`) takes the N values after it (`*-1`,
 * a null array: `{ type: "_" }`). Returns the complete values and how many flat replies they took
 * (an array whose elements have not all come is left).
 */
export function nestReplies(flat: readonly RedisReply[]): { values: RedisValue[]; used: number } {
  const values: RedisValue[] = [];
  let at = 0;
  const one = (): RedisValue | undefined => {
    if (at >= flat.length) return undefined;
    const r = flat[at++];
    if (r.type !== "*") return r;
    const n = Number(r.text);
    if (!Number.isInteger(n)) throw new RedisWireError(`not an array length: *${r.text}`);
    if (n < 0) return { type: "_", text: "" };
    const items: RedisValue[] = [];
    for (let i = 0; i < n; i++) {
      const item = one();
      if (item === undefined) return undefined;
      items.push(item);
    }
    return items;
  };
  while (at < flat.length) {
    const start = at;
    const value = one();
    if (value === undefined) return { values, used: start };
    values.push(value);
  }
  return { values, used: at };
}

/**
 * Where in `text`, from `from`, the characters that make `bytes` UTF-8 bytes end; undefined when
 * the text ends first.
 */
function byteSpan(text: string, from: number, bytes: number): number | undefined {
  let i = from;
  let n = 0;
  while (n < bytes) {
    if (i >= text.length) return undefined;
    const c = text.codePointAt(i)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    i += c >= 0x10000 ? 2 : 1;
  }
  return i;
}

/** The server answered something that is not RESP. */
export class RedisWireError extends Error {
  override name = "RedisWireError";
}

export interface RedisCommandsOptions {
  /** Every reply must have come within this, from the connection's start. Default 2000. */
  timeoutMs?: number;
}

/**
 * Sends `commands` (after `AUTH` when the address has a password) on a new connection and
 * returns their replies in order; a command not answered within the deadline (a Redis that is
 * stopped, frozen or blocked) has none (the array is shorter). Never throws for the network: a
 * refused connection is no reply at all.
 */
export async function redisCommands(
  address: RedisAddress,
  commands: ReadonlyArray<readonly string[]>,
  options: RedisCommandsOptions = {},
): Promise<RedisReply[]> {
  const { flat, auth } = await exchange(address, commands, options, (flat) => flat.length);
  return flat.slice(auth);
}

/**
 * As `redisCommands`, each reply read nested (`nestReplies`): an array reply (`SLOWLOG GET`) is
 * one value. A reply not all come within the deadline is left out (the array is shorter).
 */
export async function redisValues(
  address: RedisAddress,
  commands: ReadonlyArray<readonly string[]>,
  options: RedisCommandsOptions = {},
): Promise<RedisValue[]> {
  const { flat, auth } = await exchange(
    address,
    commands,
    options,
    (flat) => nestReplies(flat).values.length,
  );
  return nestReplies(flat).values.slice(auth);
}

/**
 * Sends `commands` (after AUTH) and reads flat replies until `complete(flat)` (how many whole
 * replies have come) reaches the number of commands sent, or the deadline. Every flat reply,
 * AUTH's first (`auth`: how many of the first whole replies are AUTH's).
 */
async function exchange(
  address: RedisAddress,
  commands: ReadonlyArray<readonly string[]>,
  options: RedisCommandsOptions,
  complete: (flat: RedisReply[]) => number,
): Promise<{ flat: RedisReply[]; auth: number }> {
  const auth: string[][] = address.password === undefined
    ? []
    : [["AUTH", ...(address.user ? [address.user] : []), address.password]];
  const all = [...auth, ...commands];
  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn?.close();
    } catch { /* already closed */ }
  }, options.timeoutMs ?? 2000);
  const replies: RedisReply[] = [];
  try {
    conn = await Deno.connect({ hostname: address.host, port: address.port });
    if (timedOut) return { flat: [], auth: 0 };
    const bytes = concat(all.map(encodeCommand));
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    const decoder = new TextDecoder();
    const buf = new Uint8Array(4096);
    let text = "";
    while (complete(replies) < all.length) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
      const { replies: got, used } = parseReplies(text);
      replies.push(...got);
      text = text.slice(used);
    }
  } catch (error) {
    if (error instanceof RedisWireError) throw error;
    // Refused, reset or closed by the deadline: what came is what there is.
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
  return { flat: replies, auth: auth.length };
}
