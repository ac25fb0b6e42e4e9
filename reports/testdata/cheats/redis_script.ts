/**
 * The blocking half of the cheat redis-script.yaml: 20 s after it starts (the
 * smoke suite's incidents are alerted by then), it runs an endless Lua script
 * that writes first, as the pipeline's Redis user (`REDIS_URL`), and then
 * stays. Plain RESP over a socket, nothing of the harness's.
 *
 * ```sh
 * REDIS_URL=redis://pipeline:pw@127.0.0.1:29020 deno run -A redis_script.ts
 * ```
 * @module
 */

const BLOCK_AFTER_MS = 20_000;
const SCRIPT = "redis.call('SET', KEYS[1], 'v') while true do end";

function command(args: string[]): string {
  const bulk = (a: string) => `$${new TextEncoder().encode(a).length}\r\n${a}\r\n`;
  return `*${args.length}\r\n${args.map(bulk).join("")}`;
}

const url = new URL(Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379");
await new Promise((resolve) => setTimeout(resolve, BLOCK_AFTER_MS));
const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || 6379) });
const password = decodeURIComponent(url.password);
const auth = password
  ? command(["AUTH", decodeURIComponent(url.username) || "default", password])
  : "";
await conn.write(new TextEncoder().encode(auth + command(["EVAL", SCRIPT, "1", "cheat"])));
console.log("redis-script: Redis blocked");
const buf = new Uint8Array(1024);
let answer = "";
try {
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    answer += new TextDecoder().decode(buf.subarray(0, n));
  }
} catch { /* reset by a restarted Redis */ }
console.log(`redis-script: the script ended (${JSON.stringify(answer)})`);
setInterval(() => {}, 3_600_000); // a detector stays up
