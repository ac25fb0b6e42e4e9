/**
 * redis_wire.ts without Redis: URLs, RESP encoding and parsing, and a fake
 * server on a socket for the order of AUTH, the deadline and a refused port.
 */

import assert from "node:assert/strict";
import {
  encodeCommand,
  nestReplies,
  parseReplies,
  redisAddress,
  redisCommands,
  redisValues,
  RedisWireError,
} from "./redis_wire.ts";

Deno.test("redisAddress: the default user, a named one, escapes, no password", () => {
  assert.deepEqual(redisAddress("redis://:p%40ss@127.0.0.1:29020"), {
    host: "127.0.0.1",
    port: 29020,
    password: "p@ss",
  });
  assert.deepEqual(redisAddress("redis://pipeline:abc@localhost:1"), {
    host: "localhost",
    port: 1,
    user: "pipeline",
    password: "abc",
  });
  assert.deepEqual(redisAddress("redis://default:x@h:2"), { host: "h", port: 2, password: "x" });
  assert.deepEqual(redisAddress("redis://h"), { host: "h", port: 6379 });
});

Deno.test("encodeCommand: RESP bulk strings, counted in bytes", () => {
  const text = new TextDecoder().decode(encodeCommand(["EVAL", "return 'é'", "0"]));
  assert.equal(text, "*3\r\n$4\r\nEVAL\r\n$11\r\nreturn 'é'\r\n$1\r\n0\r\n");
});

Deno.test("parseReplies: simple replies, errors, bulk bodies by bytes, null, partial input kept", () => {
  const complete = "+OK\r\n-BUSY Redis is busy running a script.\r\n:3\r\n$5\r\nhé\r\n\r\n$-1\r\n";
  const { replies, used } = parseReplies(`${complete}+PO`);
  assert.deepEqual(replies, [
    { type: "+", text: "OK" },
    { type: "-", text: "BUSY Redis is busy running a script." },
    { type: ":", text: "3" },
    { type: "$", text: "hé\r\n" },
    { type: "_", text: "" },
  ]);
  assert.equal(used, complete.length);
  // A bulk string whose body has not all come yet is left for the next read.
  assert.deepEqual(parseReplies("$5\r\nhe"), { replies: [], used: 0 });
  assert.throws(() => parseReplies("HTTP/1.1 400\r\n"), RedisWireError);
});

/** A fake server: answers each connection with `answer(received so far)`, once per read. */
function fakeServer(answer: (received: string) => string | undefined) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const served = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(4096);
        let text = "";
        try {
          while (true) {
            const n = await conn.read(buf);
            if (n === null) break;
            text += new TextDecoder().decode(buf.subarray(0, n));
            received.push(text);
            const out = answer(text);
            if (out !== undefined) await conn.write(new TextEncoder().encode(out));
          }
        } catch { /* closed by the client */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    received,
    close: async () => {
      listener.close();
      await served;
    },
  };
}

Deno.test("redisCommands: AUTH first (then dropped from the replies), in order", async () => {
  const server = fakeServer((t) => t.includes("PING") ? "+OK\r\n+PONG\r\n" : undefined);
  try {
    const replies = await redisCommands(
      { host: "127.0.0.1", port: server.port, user: "u", password: "pw" },
      [["PING"]],
    );
    assert.deepEqual(replies, [{ type: "+", text: "PONG" }]);
    assert.match(server.received.at(-1)!, /^\*3\r\n\$4\r\nAUTH\r\n\$1\r\nu\r\n\$2\r\npw\r\n\*1/);
  } finally {
    await server.close();
  }
});

Deno.test("redisCommands: a server that does not answer gives no reply by the deadline", async () => {
  const server = fakeServer(() => undefined);
  try {
    const replies = await redisCommands({ host: "127.0.0.1", port: server.port }, [["PING"]], {
      timeoutMs: 300,
    });
    assert.deepEqual(replies, []);
  } finally {
    await server.close();
  }
});

Deno.test("redisCommands: a refused connection is no reply, not an error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  assert.deepEqual(await redisCommands({ host: "127.0.0.1", port }, [["PING"]]), []);
});

Deno.test("nestReplies: arrays as arrays (nested, null), an array not all come is left", () => {
  const text = "*2\r\n*3\r\n:7\r\n$3\r\nSET\r\n*-1\r\n+OK\r\n-ERR x\r\n*2\r\n:1\r\n";
  const { replies } = parseReplies(text);
  const { values, used } = nestReplies(replies);
  assert.deepEqual(values, [
    [[{ type: ":", text: "7" }, { type: "$", text: "SET" }, { type: "_", text: "" }], {
      type: "+",
      text: "OK",
    }],
    { type: "-", text: "ERR x" },
  ]);
  assert.equal(used, replies.length - 2, "the last array lacks an element: left");
  assert.throws(() => nestReplies([{ type: "*", text: "x" }]), RedisWireError);
});

Deno.test("parseReplies: a long array of multi-byte bulks is read whole, in linear time", () => {
  const body = "é".repeat(100);
  const n = 20_000;
  const text = `*${n}\r\n` + `$${2 * body.length}\r\n${body}\r\n`.repeat(n);
  const { replies, used } = parseReplies(text);
  assert.equal(replies.length, n + 1);
  assert.equal(used, text.length);
  assert.ok(replies.slice(1).every((r) => r.type === "$" && r.text === body));
  // A body cut in its middle waits for the rest.
  assert.deepEqual(parseReplies(`$4\r\n${"é"}`).replies, []);
});

Deno.test("redisValues: an array reply is one value; AUTH's is dropped", async () => {
  const server = fakeServer((t) =>
    t.includes("SLOWLOG") ? "+OK\r\n*1\r\n*2\r\n:1\r\n$4\r\nKEYS\r\n+PONG\r\n" : undefined
  );
  try {
    const values = await redisValues(
      { host: "127.0.0.1", port: server.port, password: "pw" },
      [["SLOWLOG", "GET", "8"], ["PING"]],
    );
    assert.deepEqual(values, [
      [[{ type: ":", text: "1" }, { type: "$", text: "KEYS" }]],
      { type: "+", text: "PONG" },
    ]);
  } finally {
    await server.close();
  }
});
