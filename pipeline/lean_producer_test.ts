/**
 * The lean Kafka client's Produce implementation, on a fake connection: the request it hands the
 * connection is the client's own, byte for byte, for the same call; what it does not write
 * (headers, compression, a transaction) goes to the client's implementation.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { produceV11, produceV9, Writer } from "@platformatic/kafka";
import {
  type Connection,
  leanProduceApi,
  leanProducer,
  partitionRecords,
  type ProduceApi,
  type SerializedMessage,
} from "./lean_producer.ts";

/** A connection that keeps what it was asked to send. */
function fakeConnection() {
  const sent: Array<{ key: number; version: number; body: Buffer; parse: unknown }> = [];
  const connection: Connection = {
    send(apiKey, apiVersion, createPayload, parse, _req, _res, callback) {
      sent.push({
        key: apiKey,
        version: apiVersion,
        body: (createPayload() as InstanceType<typeof Writer>).buffer,
        parse,
      });
      callback(null, "answered");
    },
  };
  return { connection, sent };
}

const notCalled = Object.assign(() => assert.fail("the client's encoder was called"), {
  key: 0,
  version: 9,
}) as unknown as ProduceApi;

function messages(): SerializedMessage[] {
  return [3, 1, 3, 3, 1].map((partition, i) => ({
    topic: "network-telemetry",
    partition,
    key: Buffer.from(`10.0.0.${i}`),
    value: Buffer.from(`{"seq":${i}}`),
    headers: new Map(),
  }));
}

const sequences = new Map([["network-telemetry:3", 40], ["network-telemetry:1", 7]]);

Deno.test("the lean Produce sends the client's own request, sequences and producer included", () => {
  const { connection, sent } = fakeConnection();
  const api = leanProduceApi(11, notCalled);
  let answer: unknown;
  const ms = messages();
  const options = { producerId: 99n, producerEpoch: 2, sequences };
  api(connection, -1, 30_000, ms, options, (_e, r) => (answer = r));
  assert.equal(answer, "answered");
  assert.equal(sent.length, 1);
  assert.equal(sent[0].key, 0);
  assert.equal(sent[0].version, 11);
  assert.equal(sent[0].parse, produceV11.parseResponse);
  // The client's own encoder on the same call (its partitions in ascending order, ours in order
  // of first appearance): the same bytes once ours are in that order too.
  const ts = BigInt(partitionTimestamp(sent[0].body));
  const client = produceV9.createRequest(
    -1,
    30_000,
    ms.map((m) => ({ ...m, timestamp: ts })) as never,
    { ...options, sequences: withDefault(sequences) } as never,
  ).buffer;
  const ordered = leanBody([1, 3], ms, options, Number(ts));
  assert.deepEqual(ordered, client);
});

/** The first batch's base timestamp in a one-topic Produce body whose topic is network-telemetry. */
function partitionTimestamp(body: Buffer): number {
  // null txn (1), acks (2), timeout (4), topics (1), name (1 + 17), partitions (1), index (4),
  // records size (varint, 1 here), then the batch: base timestamp at 27.
  const batch = 1 + 2 + 4 + 1 + 18 + 1 + 4 + 1;
  return Number(body.readBigInt64BE(batch + 27));
}

function withDefault(m: Map<string, number>) {
  return Object.assign(new Map(m), { getWithDefault: (k: string, d: number) => m.get(k) ?? d });
}

function leanBody(
  order: number[],
  ms: SerializedMessage[],
  options: { producerId: bigint; producerEpoch: number; sequences: Map<string, number> },
  ts: number,
): Buffer {
  const sorted = order.flatMap((p) => ms.filter((m) => m.partition === p)).map((m) => ({
    ...m,
    timestamp: ts,
  }));
  const { connection, sent } = fakeConnection();
  leanProduceApi(9, notCalled)(connection, -1, 30_000, sorted, options, () => {});
  return sent[0].body;
}

Deno.test("a retried call is encoded again with the same timestamp and sequences", async () => {
  const { connection, sent } = fakeConnection();
  const api = leanProduceApi(9, notCalled);
  const ms = messages();
  const options = { producerId: 5n, producerEpoch: 0, sequences };
  api(connection, -1, 30_000, ms, options, () => {});
  await new Promise((r) => setTimeout(r, 5));
  api(connection, -1, 30_000, ms, options, () => {});
  assert.deepEqual(sent[0].body, sent[1].body);
});

Deno.test("partitionRecords groups by partition with each partition's next sequence", () => {
  const parts = partitionRecords(messages(), { producerId: 9n, producerEpoch: 1, sequences })!;
  assert.deepEqual(
    parts.map((p) => [p.partition, p.baseSequence, p.values.map(String)]),
    [
      [3, 40, ['{"seq":0}', '{"seq":2}', '{"seq":3}']],
      [1, 7, ['{"seq":1}', '{"seq":4}']],
    ],
  );
  assert.ok(parts.every((p) => p.producerId === 9n && p.producerEpoch === 1));
  // Not idempotent: no producer, as the client writes it.
  const plain = partitionRecords(messages(), {})!;
  assert.ok(
    plain.every((p) => p.producerId === -1n && p.producerEpoch === 0 && p.baseSequence === 0),
  );
});

Deno.test("what the lean encoder does not write goes to the client's own implementation", () => {
  const cases: Array<[string, SerializedMessage[], object]> = [
    [
      "headers",
      messages().map((m, i) => i === 2 ? { ...m, headers: new Map([["h", "v"]]) } : m),
      {},
    ],
    ["compression", messages(), { compression: "lz4" }],
    ["a transaction", messages(), { transactionalId: "tx" }],
    ["two topics", messages().map((m, i) => i === 4 ? { ...m, topic: "other" } : m), {}],
    ["a time of its own", messages().map((m, i) => i === 1 ? { ...m, timestamp: 5n } : m), {}],
    ["no value", messages().map((m, i) => i === 0 ? { ...m, value: null } : m), {}],
  ];
  for (const [what, ms, options] of cases) {
    let fellBack = false;
    const fallback = Object.assign(() => void (fellBack = true), { key: 0, version: 9 });
    const { connection, sent } = fakeConnection();
    leanProduceApi(9, fallback as unknown as ProduceApi)(connection, -1, 1, ms, options, () => {});
    assert.ok(fellBack, what);
    assert.equal(sent.length, 0, what);
  }
});

Deno.test("leanProducer hooks the client's API lookup (this client version has it)", async () => {
  const producer = leanProducer({ clientId: "t", bootstrapBrokers: ["127.0.0.1:1"] });
  await producer.close();
});
