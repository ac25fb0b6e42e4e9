import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  fetchV11,
  fetchV4,
  findCoordinatorV2,
  metadataV8,
  offsetCommitV7,
  produceV7,
  produceV8,
  Reader as PltReader,
} from "@platformatic/kafka";
import { createRequire } from "node:module";
import { requestHeader, Writer } from "./kafka_wire.ts";
import {
  ERROR_CODES,
  errorAnswer,
  fetchError,
  fetchTopics,
  findCoordinatorError,
  offsetCommitError,
  offsetCommitTopics,
  produceAcks,
  produceError,
  produceTopics,
  rewriteMetadataErrors,
} from "./kafka_wire_errors.ts";
import { bytes } from "./kafka_wire_testing.ts";

/** kafkajs's own decoder of one answer (its `src/protocol/requests/<api>/<version>/response.js`). */
function kafkajsResponse(path: string): KafkajsResponse {
  return createRequire(import.meta.url)(`kafkajs/src/protocol/requests/${path}`);
}
interface KafkajsResponse {
  decode(b: Buffer): Promise<unknown>;
  parse(d: unknown): Promise<unknown>;
}

const kjsProduceV7 = kafkajsResponse("produce/v7/response.js");
const kjsFetchV11 = kafkajsResponse("fetch/v11/response.js");
const kjsOffsetCommitV5 = kafkajsResponse("offsetCommit/v5/response.js");
const kjsFindCoordinatorV2 = kafkajsResponse("findCoordinator/v2/response.js");
const kjsMetadataV6 = kafkajsResponse("metadata/v6/response.js");
const NOT_LEADER = ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
const TOPICS = [{ topic: "t", partitions: [0, 2] }];

/** A request frame: header v1 (key, version, correlation id 9, client "c"), then `body`. */
function request(key: number, version: number, body: Uint8Array): Uint8Array {
  const head = bytes(["i16", key], ["i16", version], ["i32", 9], ["str", "c"]);
  return new Uint8Array([...head, ...body]);
}

/** kafkajs's decode + parse of a body: the error type it throws, or "ok". */
async function kafkajsSays(
  m: KafkajsResponse,
  body: Uint8Array,
): Promise<string> {
  try {
    await m.parse(await m.decode(Buffer.from(body)));
    return "ok";
  } catch (error) {
    return (error as { type?: string }).type ?? String(error);
  }
}

/** @platformatic/kafka's parse of a body: the error codes it found, or "ok". */
function platformaticSays(
  m: { parseResponse: (id: number, key: number, v: number, r: PltReader) => unknown },
  key: number,
  version: number,
  body: Uint8Array,
): string {
  try {
    m.parseResponse(9, key, version, PltReader.from(Buffer.from(body)));
    return "ok";
  } catch (error) {
    return JSON.stringify(
      (error as { errors?: { apiCode?: number }[] }).errors?.map((e) => e.apiCode),
    );
  }
}

Deno.test("produceError() v7: the spec's layout, and both clients read NOT_LEADER_OR_FOLLOWER", async () => {
  const body = produceError(7, TOPICS, NOT_LEADER);
  const partition = (p: number): [string, number | bigint][] => [
    ["i32", p],
    ["i16", 6],
    ["i64", -1n],
    ["i64", -1n],
    ["i64", -1n],
  ];
  const want = bytes(
    ["i32", 1],
    ["str", "t"],
    ["i32", 2],
    ...partition(0),
    ...partition(2),
    ["i32", 0],
  );
  assert.deepEqual([...body], [...want]);
  assert.equal(await kafkajsSays(kjsProduceV7, body), "NOT_LEADER_FOR_PARTITION");
  assert.equal(platformaticSays(produceV7, 0, 7, body), "[6,6]");
  const v8 = produceError(8, TOPICS, ERROR_CODES.NOT_ENOUGH_REPLICAS);
  assert.equal(v8.length, body.length + 2 * 6); // + empty record_errors and null message each
  assert.equal(platformaticSays(produceV8, 0, 8, v8), "[19,19]");
  // v3: no log_start_offset; v0: no log_append_time, no throttle time.
  assert.equal(produceError(3, TOPICS, 7).length, body.length - 2 * 8);
  assert.equal(produceError(0, TOPICS, 7).length, body.length - 2 * 16 - 4);
});

Deno.test("produceTopics() and produceAcks() read a Produce request v3+", () => {
  const body = bytes(
    ["str", null],
    ["i16", -1],
    ["i32", 30000],
    ["i32", 1],
    ["str", "t"],
    ["i32", 2],
    ["i32", 0],
    ["i32", 3],
    ["i8", 1],
    ["i8", 2],
    ["i8", 3],
    ["i32", 2],
    ["i32", -1],
  );
  const f = request(0, 7, body);
  assert.deepEqual(produceTopics(f), TOPICS);
  assert.equal(produceAcks(f), -1);
  const answer = errorAnswer(f, NOT_LEADER)!;
  assert.deepEqual([...answer.subarray(0, 4)], [0, 0, 0, 9]); // the request's correlation id
  assert.deepEqual([...answer.subarray(4)], [...produceError(7, TOPICS, NOT_LEADER)]);
  // Above the cap (flexible v9): not encoded.
  assert.equal(errorAnswer(request(0, 9, body), NOT_LEADER), undefined);
});

Deno.test("fetchError() v11 and v4: the spec's layout, and both clients read the error", async () => {
  const body = fetchError(11, [{ topic: "t", partitions: [1] }], ERROR_CODES.REQUEST_TIMED_OUT);
  const want = bytes(
    ["i32", 0],
    ["i16", 0],
    ["i32", 0],
    ["i32", 1],
    ["str", "t"],
    ["i32", 1],
    ["i32", 1],
    ["i16", 7],
    ["i64", -1n],
    ["i64", -1n],
    ["i64", -1n],
    ["i32", 0],
    ["i32", -1],
    ["i32", 0],
  );
  assert.deepEqual([...body], [...want]);
  assert.equal(await kafkajsSays(kjsFetchV11, body), "REQUEST_TIMED_OUT");
  assert.equal(platformaticSays(fetchV11, 1, 11, body), "[7]");
  const v4 = fetchError(4, [{ topic: "t", partitions: [1] }], NOT_LEADER);
  assert.equal(v4.length, body.length - 6 - 8 - 4); // no top-level error/session, lso, replica
  assert.equal(platformaticSays(fetchV4, 1, 4, v4), "[6]");
});

Deno.test("fetchTopics() reads a Fetch request v11", () => {
  const body = bytes(
    ["i32", -1],
    ["i32", 500],
    ["i32", 1],
    ["i32", 1 << 20],
    ["i8", 0],
    ["i32", 0],
    ["i32", -1],
    ["i32", 1],
    ["str", "t"],
    ["i32", 2],
    ...[0, 2].flatMap((p): [string, number | bigint][] => [
      ["i32", p],
      ["i32", -1],
      ["i64", 100n],
      ["i64", -1n],
      ["i32", 1 << 20],
    ]),
    ["i32", 0],
    ["str", ""],
  );
  assert.deepEqual(fetchTopics(request(1, 11, body)), TOPICS);
});

Deno.test("offsetCommitError() and offsetCommitTopics(): v7 layout, read by both clients", async () => {
  const body = offsetCommitError(7, TOPICS, ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
  const want = bytes(
    ["i32", 0],
    ["i32", 1],
    ["str", "t"],
    ["i32", 2],
    ["i32", 0],
    ["i16", 15],
    ["i32", 2],
    ["i16", 15],
  );
  assert.deepEqual([...body], [...want]);
  assert.equal(platformaticSays(offsetCommitV7, 8, 7, body), "[15,15]");
  // kafkajs's v5 answer is v7's layout.
  assert.equal(await kafkajsSays(kjsOffsetCommitV5, body), "GROUP_COORDINATOR_NOT_AVAILABLE");
  const req = (v: number) =>
    bytes(
      ["str", "g"],
      ["i32", 3],
      ["str", "m"],
      ...(v >= 7 ? [["str", null] as [string, null]] : []),
      ...(v >= 2 && v <= 4 ? [["i64", -1n] as [string, bigint]] : []),
      ["i32", 1],
      ["str", "t"],
      ["i32", 2],
      ...[0, 2].flatMap((p): [string, number | bigint | null][] => [
        ["i32", p],
        ["i64", 10n],
        ...(v >= 6 ? [["i32", -1] as [string, number]] : []),
        ["str", null],
      ]),
    );
  for (const v of [2, 5, 7]) assert.deepEqual(offsetCommitTopics(request(8, v, req(v))), TOPICS);
});

Deno.test("findCoordinatorError() v2: the spec's layout, read by both clients", async () => {
  const body = findCoordinatorError(2, ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
  assert.deepEqual(
    [...body],
    [...bytes(["i32", 0], ["i16", 15], ["str", null], ["i32", -1], ["str", ""], ["i32", -1])],
  );
  assert.equal(await kafkajsSays(kjsFindCoordinatorV2, body), "GROUP_COORDINATOR_NOT_AVAILABLE");
  assert.equal(platformaticSays(findCoordinatorV2, 10, 2, body), "[15]");
  assert.equal(findCoordinatorError(0, 15).length, body.length - 6);
  const f = request(10, 2, bytes(["str", "g"], ["i8", 0]));
  assert.deepEqual([...errorAnswer(f, 15)!.subarray(4)], [...body]);
});

/** A Metadata answer v`v` (header included): 2 brokers, topics t (2 partitions) and u (1). */
function metadataAnswer(v: number): Uint8Array {
  const w = new Writer().int32(9);
  if (v >= 3) w.int32(0);
  w.array([1, 2], (w, id) => {
    w.int32(id).string("127.0.0.1").int32(29100 + id);
    if (v >= 1) w.string(null);
  });
  if (v >= 2) w.string("cluster");
  if (v >= 1) w.int32(1);
  w.array([["t", 2], ["u", 1]] as const, (w, [name, n]) => {
    w.int16(0).string(name);
    if (v >= 1) w.int8(0);
    w.array(Array.from({ length: n }, (_, i) => i), (w, p) => {
      w.int16(0).int32(p).int32(1);
      if (v >= 7) w.int32(5);
      w.array([1, 2], (w, r) => void w.int32(r)).array([1], (w, r) => void w.int32(r));
      if (v >= 5) w.array([], () => {});
    });
    if (v >= 8) w.int32(-2147483648);
  });
  if (v >= 8) w.int32(-2147483648);
  return w.bytes();
}

Deno.test("rewriteMetadataErrors() sets every topic's error in place, read by both clients", async () => {
  for (const v of [0, 1, 5, 6, 7, 8]) {
    const f = metadataAnswer(v);
    const length = f.length;
    assert.equal(rewriteMetadataErrors(f, v, ERROR_CODES.LEADER_NOT_AVAILABLE), 2, `v${v}`);
    assert.equal(f.length, length);
    if (v === 6) {
      assert.equal(await kafkajsSays(kjsMetadataV6, f.subarray(4)), "LEADER_NOT_AVAILABLE");
    }
    if (v === 8) assert.equal(platformaticSays(metadataV8, 3, 8, f.subarray(4)), "[5,5]");
  }
  // Untouched, both read it fine.
  assert.equal(await kafkajsSays(kjsMetadataV6, metadataAnswer(6).subarray(4)), "ok");
  assert.equal(platformaticSays(metadataV8, 3, 8, metadataAnswer(8).subarray(4)), "ok");
  assert.throws(() => rewriteMetadataErrors(metadataAnswer(8), 9, 5));
});

Deno.test("errorAnswer() encodes nothing for an API it does not answer", () => {
  const f = request(3, 8, bytes(["i32", 0]));
  assert.equal(errorAnswer(f, 5), undefined); // Metadata: rewritten, not answered
  assert.equal(errorAnswer(request(18, 3, new Uint8Array(0)), 5), undefined);
  assert.equal(requestHeader(f).apiKey, 3);
});
