/**
 * The lean Kafka client's Produce implementation, on a fake connection: the request it hands the
 * connection is the client's own, byte for byte, for the same call; what it does not write
 * (headers, compression, a transaction) goes to the client's implementation.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { produceV11, produceV3, produceV8, produceV9, Writer } from "@platformatic/kafka";
import {
  batchMessages,
  type Connection,
  guardedProduceApi,
  leanProduceApi,
  leanProducer,
  LeanProducerError,
  partitionRecords,
  type ProduceApi,
  type SerializedMessage,
} from "./lean_producer.ts";
import { PartitionBatch } from "./record_batch.ts";

/** A connection that keeps what it was asked to send. */
function fakeConnection() {
  const sent: Array<{
    key: number;
    version: number;
    body: Buffer;
    parse: unknown;
    requestTags: boolean;
    responseTags: boolean;
  }> = [];
  const connection: Connection = {
    send(apiKey, apiVersion, createPayload, parse, requestTags, responseTags, callback) {
      sent.push({
        key: apiKey,
        version: apiVersion,
        body: (createPayload() as InstanceType<typeof Writer>).buffer,
        parse,
        requestTags,
        responseTags,
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

/** A batch of the messages' records on partition 3 (the generator's way of writing them). */
function builtBatch(ms: SerializedMessage[]): PartitionBatch {
  const b = new PartitionBatch("network-telemetry", 3, new Uint8Array(256));
  ms.forEach((m, i) => {
    b.reserve(m.value!.length);
    const at = b.begin(m.key!);
    b.buf.set(m.value!, at);
    b.end(at + m.value!.length, i);
  });
  return b;
}

Deno.test("a built batch's messages are sent as its bytes: the client's own request for its records", () => {
  const ms = messages().map((m) => ({ ...m, partition: 3 }));
  const batch = builtBatch(ms);
  const stand = batchMessages(batch);
  assert.equal(stand.length, ms.length);
  // The client hands its Produce its own copies of the messages (with headers maps).
  const copies = stand.map((m) => ({ ...m, headers: new Map() }));
  const { connection, sent } = fakeConnection();
  const options = { producerId: 99n, producerEpoch: 2, sequences };
  let answer: unknown;
  leanProduceApi(10, notCalled)(connection, -1, 30_000, copies, options, (_e, r) => (answer = r));
  assert.equal(answer, "answered");
  assert.equal(sent.length, 1);
  const ts = batch.timestampMs!;
  assert.ok(Math.abs(ts - Date.now()) < 60_000, `${ts}`);
  const client = produceV9.createRequest(
    -1,
    30_000,
    ms.map((m) => ({ ...m, timestamp: BigInt(ts) })) as never,
    { ...options, sequences: withDefault(sequences) } as never,
  ).buffer;
  assert.deepEqual(sent[0].body, client);
  // A retry: the same bytes.
  leanProduceApi(10, notCalled)(connection, -1, 30_000, copies, options, () => {});
  assert.deepEqual(sent[1].body, client);
});

Deno.test("a built batch's messages are refused, never sent as markers, when the call is not its own", () => {
  const ms = messages().map((m) => ({ ...m, partition: 3 }));
  const stand = () => batchMessages(builtBatch(ms));
  const other = messages()[0];
  const cases: Array<[string, SerializedMessage[], object]> = [
    ["compression", stand(), { compression: "lz4" }],
    ["a transaction", stand(), { transactionalId: "tx" }],
    ["fewer messages", stand().slice(1), {}],
    ["another record", [...stand().slice(1), other], {}],
    ["another partition", stand().map((m, i) => i === 2 ? { ...m, partition: 1 } : m), {}],
  ];
  for (const [what, call, options] of cases) {
    const { connection, sent } = fakeConnection();
    let error = null as Error | null;
    leanProduceApi(9, notCalled)(connection, -1, 1, call, options, (e) => (error = e));
    assert.ok(error instanceof LeanProducerError, what);
    assert.equal(sent.length, 0, what);
  }
  // The client's own Produce (a version the lean encoder does not write) refuses them too.
  let called = 0;
  const client = Object.assign(() => void called++, {
    key: 0,
    version: 2,
  }) as unknown as ProduceApi;
  const guarded = guardedProduceApi(client);
  assert.equal(guarded.version, 2);
  assert.throws(() => leanProduceApi(2, client), LeanProducerError);
  let error = null as Error | null;
  guarded(fakeConnection().connection, -1, 1, stand(), {}, (e) => (error = e));
  assert.ok(error instanceof LeanProducerError);
  assert.equal(called, 0);
  guarded(fakeConnection().connection, -1, 1, messages(), {}, () => {});
  assert.equal(called, 1, "other messages go to the client's");
});

Deno.test("a built batch is sent at Produce v3 to v8 too (a proxy capping the version): the client's own bytes, flags off", () => {
  const ms = messages().map((m) => ({ ...m, partition: 3 }));
  for (const [version, encoder] of [[8, produceV8], [3, produceV3]] as const) {
    const batch = builtBatch(ms);
    const copies = batchMessages(batch).map((m) => ({ ...m, headers: new Map() }));
    const { connection, sent } = fakeConnection();
    const options = { producerId: 99n, producerEpoch: 2, sequences };
    let answer: unknown;
    leanProduceApi(version, notCalled)(
      connection,
      1,
      5_000,
      copies,
      options,
      (_e, r) => (answer = r),
    );
    assert.equal(answer, "answered", `v${version}`);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].version, version);
    assert.deepEqual([sent[0].requestTags, sent[0].responseTags], [false, false], `v${version}`);
    const ts = batch.timestampMs!;
    const client = encoder.createRequest(
      1,
      5_000,
      ms.map((m) => ({ ...m, timestamp: BigInt(ts) })) as never,
      { ...options, sequences: withDefault(sequences) } as never,
    ).buffer;
    assert.deepEqual(sent[0].body, client, `v${version}`);
    // A retry at a flexible version (the proxy gone) writes that layout over the same records.
    leanProduceApi(9, notCalled)(connection, 1, 5_000, copies, options, () => {});
    assert.deepEqual(
      sent[1].body,
      produceV9.createRequest(
        1,
        5_000,
        ms.map((m) => ({ ...m, timestamp: BigInt(ts) })) as never,
        { ...options, sequences: withDefault(sequences) } as never,
      ).buffer,
    );
  }
  // Other messages at v8 are the client's own to encode.
  let fellBack = 0;
  const fallback = Object.assign(() => void fellBack++, { key: 0, version: 8 });
  leanProduceApi(8, fallback as unknown as ProduceApi)(
    fakeConnection().connection,
    -1,
    1,
    messages(),
    { sequences },
    () => {},
  );
  assert.equal(fellBack, 1);
});
