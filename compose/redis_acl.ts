/**
 * The local stack's Redis users: the harness connects as `default` with a
 * password of the stack's; the pipeline under test connects as `pipeline`,
 * which may do what a detector does (keys, scripts, pub/sub) but nothing of
 * `@admin` or `@dangerous` (no CLIENT PAUSE, SHUTDOWN, FLUSHALL, CONFIG SET,
 * ACL, DEBUG, KEYS): a hostile pipeline cannot stall or wipe the Redis the
 * harness settles against. The users are written to an ACL file (mode 0600,
 * passwords as SHA-256 only) that `redis-server --aclfile` reads, so no
 * password shows on a command line.
 *
 * ```ts
 * import { makeRedisUsers, redisAclFile, redisUrl } from "./redis_acl.ts";
 * const users = makeRedisUsers();
 * const text = await redisAclFile(users); // "user default on #… ~* &* +@all\n…"
 * redisUrl("127.0.0.1", 29020, "pipeline", users.pipeline); // "redis://pipeline:…@127.0.0.1:29020"
 * ```
 * @module
 */

import { randomHex } from "../lib/ids.ts";

/** The graded pipeline's Redis user. */
export const PIPELINE_REDIS_USER = "pipeline";

/**
 * What the pipeline's user may do: every key and channel, every command but the admin and
 * dangerous ones. INFO (dangerous: it tells the server's config) is allowed back: clients such
 * as ioredis send it to learn that the server is ready.
 */
export const PIPELINE_REDIS_RULES = "~* &* +@all -@admin -@dangerous +info";

/** The passwords of the stack's two Redis users (hex: nothing an ACL file or a URL escapes). */
export interface RedisUsers {
  /** The `default` user's: the harness's. */
  harness: string;
  /** The `pipeline` user's. */
  pipeline: string;
}

export function makeRedisUsers(random: () => string = () => randomHex(20)): RedisUsers {
  return { harness: random(), pipeline: random() };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The ACL file's text: `default` may do everything, `pipeline` PIPELINE_REDIS_RULES. */
export async function redisAclFile(users: RedisUsers): Promise<string> {
  return `user default on #${await sha256Hex(users.harness)} ~* &* +@all\n` +
    `user ${PIPELINE_REDIS_USER} on #${await sha256Hex(users.pipeline)} ${PIPELINE_REDIS_RULES}\n`;
}

/** Writes the ACL file at `file`, readable by this user only. */
export async function writeRedisAclFile(file: string, users: RedisUsers): Promise<void> {
  await Deno.writeTextFile(file, await redisAclFile(users), { mode: 0o600 });
  await Deno.chmod(file, 0o600); // an existing file keeps its mode otherwise
}

/** `redis://user:password@host:port`; without a user, the `default` user's (`redis://:pw@…`). */
export function redisUrl(host: string, port: number, user: string, password: string): string {
  const who = `${user === "default" ? "" : encodeURIComponent(user)}:${
    encodeURIComponent(password)
  }`;
  return `redis://${who}@${host}:${port}`;
}
