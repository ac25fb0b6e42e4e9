/**
 * A connection reset while the client authenticates: `@platformatic/kafka` emits 'error' again
 * after its listeners are used up (what the generator's threads printed as `Uncaught Error:
 * Connection to … failed.` while a broker behind its proxy was down). Against a local socket
 * that resets the connection at the client's first request (the SASL handshake), as a proxy
 * whose broker is gone does; the emissions are counted on the client's own Connection class.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { Connection, Producer } from "@platformatic/kafka";
import { forgetSecurityFor, useSecurityFor } from "./kafka_security.ts";
import { producerClient } from "./producer_client.ts";
import { quietConnectionErrors, QuietConnectionsError } from "./quiet_connections.ts";

/** A listener that resets every connection at its first bytes. */
async function resettingListener(): Promise<{ address: string; close(): Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Counts the 'error' emissions of every Connection while `fn` runs, and until `settle` of them
 * came (or 5 s passed): heard ones, and unheard ones (kept from throwing here, so that the test
 * can report them).
 */
async function errorEmissions(
  fn: () => Promise<void>,
  settle: number,
): Promise<{ heard: number; unheard: number }> {
  const counts = { heard: 0, unheard: 0 };
  const emit = Connection.prototype.emit;
  let enough: () => void = () => {};
  const settled = new Promise<void>((resolve) => (enough = resolve));
  Connection.prototype.emit = function (this: Connection, name: string, ...args: unknown[]) {
    if (name !== "error") return emit.call(this, name, ...args);
    const heard = this.listenerCount("error") > 0;
    counts[heard ? "heard" : "unheard"]++;
    if (counts.heard + counts.unheard >= settle) enough();
    return heard ? emit.call(this, name, ...args) : false;
  } as typeof emit;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await fn();
    await Promise.race([settled, new Promise((r) => (timer = setTimeout(r, 5000)))]);
  } finally {
    clearTimeout(timer);
    Connection.prototype.emit = emit;
  }
  return counts;
}

const sasl = { mechanism: "PLAIN" as const, username: "u", password: "p" };

/** A producer that authenticates (SASL) to `address`, trying nothing twice. */
function saslProducer(address: string) {
  return new Producer({ clientId: "quiet-test", bootstrapBrokers: [address], retries: 0, sasl });
}

Deno.test("a connection reset during SASL: the client alone emits an error nobody hears", async () => {
  const listener = await resettingListener();
  const producer = saslProducer(listener.address);
  try {
    const counts = await errorEmissions(async () => {
      await assert.rejects(producer.metadata({ topics: [] }));
    }, 2);
    // The defect this module exists for: if the client stops doing it, this fails and the
    // listener can go.
    assert.ok(counts.unheard > 0, `no unheard error: ${JSON.stringify(counts)}`);
  } finally {
    await producer.close().catch(() => {});
    await listener.close();
  }
});

Deno.test("quietConnectionErrors: every later error of a connection is heard", async () => {
  const listener = await resettingListener();
  const producer = quietConnectionErrors(saslProducer(listener.address));
  try {
    const counts = await errorEmissions(async () => {
      await assert.rejects(producer.metadata({ topics: [] }));
    }, 2);
    assert.ok(counts.heard >= 2, `the second emission never came: ${JSON.stringify(counts)}`);
    assert.equal(counts.unheard, 0);
  } finally {
    await producer.close().catch(() => {});
    await listener.close();
  }
});

for (const kind of ["platformatic", "lean"] as const) {
  Deno.test(`the generator's ${kind} producer and its partition counter are quiet`, async () => {
    const listener = await resettingListener();
    useSecurityFor([listener.address], { sasl });
    const client = producerClient(kind, {
      brokers: [listener.address],
      clientId: "quiet-test",
      acks: -1,
      idempotent: true,
      deliveryTimeoutMs: 1000,
    });
    try {
      const counts = await errorEmissions(async () => {
        await assert.rejects(client.connect());
        await assert.rejects(client.partitionCount("t"));
      }, 4);
      assert.ok(counts.heard >= 4, `fewer emissions than expected: ${JSON.stringify(counts)}`);
      assert.equal(counts.unheard, 0);
    } finally {
      await client.close().catch(() => {});
      forgetSecurityFor([listener.address]);
      await listener.close();
    }
  });
}

Deno.test("quietConnectionErrors refuses a client without a connection pool", () => {
  assert.throws(() => quietConnectionErrors({}), QuietConnectionsError);
});
