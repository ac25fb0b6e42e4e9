/**
 * Error answers in the Kafka wire protocol, for the kafka proxy's `error` mode
 * (kafka_proxy.ts): the answer a broker would give a Produce, Fetch,
 * OffsetCommit or FindCoordinator request that failed with an error code,
 * encoded for the request's own version (up to the caps in kafka_wire.ts:
 * the non-flexible versions), and for Metadata, whose answer has no error
 * of its own among these, a rewrite in place of a real answer's topic error
 * codes. The requests are read only as far as their topics and partitions
 * (and a Produce's acks). Layouts: Kafka's message specs
 * (ProduceRequest/Response.json and the others of
 * clients/src/main/resources/common/message).
 *
 * ```ts
 * import { errorAnswer, ERROR_CODES } from "./kafka_wire_errors.ts";
 * const answer = errorAnswer(requestFrame, ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
 * ```
 * @module
 */

import {
  API_KEYS,
  type ApiName,
  Reader,
  type RequestHeader,
  requestHeader,
  VERSION_CAPS,
  WireError,
  Writer,
} from "./kafka_wire.ts";

/** The error codes the proxy answers with, by Kafka's names. */
export const ERROR_CODES = {
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_ENOUGH_REPLICAS: 19,
} as const;
export type ErrorCodeName = keyof typeof ERROR_CODES;

/** The APIs an error can be answered for. */
export const ERROR_APIS = [
  "Produce",
  "Fetch",
  "Metadata",
  "OffsetCommit",
  "FindCoordinator",
] as const satisfies readonly ApiName[];
export type ErrorApi = typeof ERROR_APIS[number];

/**
 * The codes a broker really answers each API with (Kafka's request handlers): a Produce
 * to a follower, to a partition short of in-sync replicas, or whose acks timed out; a Fetch
 * from a follower (or one that timed out); a Metadata answer whose topic has no leader yet;
 * an offset commit or coordinator lookup while the group coordinator is loading (or the commit's
 * append timed out).
 */
export const VALID_CODES: Readonly<Record<ErrorApi, readonly ErrorCodeName[]>> = {
  Produce: ["NOT_LEADER_OR_FOLLOWER", "NOT_ENOUGH_REPLICAS", "REQUEST_TIMED_OUT"],
  Fetch: ["NOT_LEADER_OR_FOLLOWER", "REQUEST_TIMED_OUT"],
  Metadata: ["LEADER_NOT_AVAILABLE"],
  OffsetCommit: ["COORDINATOR_NOT_AVAILABLE", "REQUEST_TIMED_OUT"],
  FindCoordinator: ["COORDINATOR_NOT_AVAILABLE"],
};

/** Topics and their partitions, as a request names them. */
export type TopicPartitions = { topic: string; partitions: number[] }[];

/** A Produce request's acks (0: the broker answers nothing). */
export function produceAcks(f: Uint8Array, h: RequestHeader = requestHeader(f)): number {
  const r = new Reader(f, h.bodyOffset);
  if (h.apiVersion >= 3) r.nullableString(); // transactional_id
  return r.int16();
}

/** The topics and partitions of a Produce request (v0..v8). */
export function produceTopics(f: Uint8Array, h: RequestHeader = requestHeader(f)): TopicPartitions {
  const r = new Reader(f, h.bodyOffset);
  if (h.apiVersion >= 3) r.nullableString(); // transactional_id
  r.int16(); // acks
  r.int32(); // timeout_ms
  return readTopics(r, (r) => {
    const p = r.int32();
    r.skipBytes(); // records
    return p;
  });
}

/** The topics and partitions of a Fetch request (v0..v11). */
export function fetchTopics(f: Uint8Array, h: RequestHeader = requestHeader(f)): TopicPartitions {
  const v = h.apiVersion;
  const r = new Reader(f, h.bodyOffset);
  r.skip(12); // replica_id, max_wait_ms, min_bytes
  if (v >= 3) r.int32(); // max_bytes
  if (v >= 4) r.int8(); // isolation_level
  if (v >= 7) r.skip(8); // session_id, session_epoch
  return readTopics(r, (r) => {
    const p = r.int32();
    if (v >= 9) r.int32(); // current_leader_epoch
    r.int64(); // fetch_offset
    if (v >= 5) r.int64(); // log_start_offset
    r.int32(); // partition_max_bytes
    return p;
  });
}

/** The topics and partitions of an OffsetCommit request (v0..v7). */
export function offsetCommitTopics(
  f: Uint8Array,
  h: RequestHeader = requestHeader(f),
): TopicPartitions {
  const v = h.apiVersion;
  const r = new Reader(f, h.bodyOffset);
  r.string(); // group_id
  if (v >= 1) {
    r.int32(); // generation_id
    r.string(); // member_id
  }
  if (v >= 7) r.nullableString(); // group_instance_id
  if (v >= 2 && v <= 4) r.int64(); // retention_time_ms
  return readTopics(r, (r) => {
    const p = r.int32();
    r.int64(); // committed_offset
    if (v >= 6) r.int32(); // committed_leader_epoch
    if (v === 1) r.int64(); // commit_timestamp
    r.nullableString(); // committed_metadata
    return p;
  });
}

function readTopics(r: Reader, partition: (r: Reader) => number): TopicPartitions {
  const out: TopicPartitions = [];
  for (let t = r.arrayLength(); t > 0; t--) {
    const topic = r.string();
    const partitions: number[] = [];
    for (let p = r.arrayLength(); p > 0; p--) partitions.push(partition(r));
    out.push({ topic, partitions });
  }
  return out;
}

/** A Produce answer (v0..v8): every partition failed with `code`. */
export function produceError(version: number, topics: TopicPartitions, code: number): Uint8Array {
  const w = new Writer();
  w.array(topics, (w, t) => {
    w.string(t.topic).array(t.partitions, (w, p) => {
      w.int32(p).int16(code).int64(-1n); // index, error_code, base_offset
      if (version >= 2) w.int64(-1n); // log_append_time_ms
      if (version >= 5) w.int64(-1n); // log_start_offset
      if (version >= 8) w.int32(0).string(null); // record_errors, error_message
    });
  });
  if (version >= 1) w.int32(0); // throttle_time_ms
  return w.bytes();
}

/** A Fetch answer (v0..v11): every partition failed with `code`, no records. */
export function fetchError(version: number, topics: TopicPartitions, code: number): Uint8Array {
  const w = new Writer();
  if (version >= 1) w.int32(0); // throttle_time_ms
  if (version >= 7) w.int16(0).int32(0); // error_code, session_id (no session)
  w.array(topics, (w, t) => {
    w.string(t.topic).array(t.partitions, (w, p) => {
      w.int32(p).int16(code).int64(-1n); // partition_index, error_code, high_watermark
      if (version >= 4) w.int64(-1n); // last_stable_offset
      if (version >= 5) w.int64(-1n); // log_start_offset
      if (version >= 4) w.int32(0); // aborted_transactions: empty
      if (version >= 11) w.int32(-1); // preferred_read_replica
      w.int32(0); // records: empty
    });
  });
  return w.bytes();
}

/** An OffsetCommit answer (v0..v7): every partition failed with `code`. */
export function offsetCommitError(
  version: number,
  topics: TopicPartitions,
  code: number,
): Uint8Array {
  const w = new Writer();
  if (version >= 3) w.int32(0); // throttle_time_ms
  w.array(topics, (w, t) => {
    w.string(t.topic).array(t.partitions, (w, p) => void w.int32(p).int16(code));
  });
  return w.bytes();
}

/** A FindCoordinator answer (v0..v2): failed with `code`, no coordinator. */
export function findCoordinatorError(version: number, code: number): Uint8Array {
  const w = new Writer();
  if (version >= 1) w.int32(0); // throttle_time_ms
  w.int16(code);
  if (version >= 1) w.string(null); // error_message
  return w.int32(-1).string("").int32(-1).bytes(); // node_id, host, port
}

/**
 * The whole answer (header v0: the correlation id, then the body; no size prefix) to request
 * frame `f` failing with `code`, or undefined when the proxy does not encode one for it (another
 * API, Metadata: see `rewriteMetadataErrors`, or a version above its cap).
 */
export function errorAnswer(f: Uint8Array, code: number): Uint8Array | undefined {
  const h = requestHeader(f);
  const v = h.apiVersion;
  if (VERSION_CAPS[h.apiKey] === undefined || v > VERSION_CAPS[h.apiKey]) return undefined;
  let body: Uint8Array;
  switch (h.apiKey) {
    case API_KEYS.Produce:
      body = produceError(v, produceTopics(f, h), code);
      break;
    case API_KEYS.Fetch:
      body = fetchError(v, fetchTopics(f, h), code);
      break;
    case API_KEYS.OffsetCommit:
      body = offsetCommitError(v, offsetCommitTopics(f, h), code);
      break;
    case API_KEYS.FindCoordinator:
      body = findCoordinatorError(v, code);
      break;
    default:
      return undefined;
  }
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setInt32(0, h.correlationId);
  out.set(body, 4);
  return out;
}

/**
 * Sets, in place, the error code of every topic of a Metadata answer (`f`: the response frame,
 * header v0 included; `version` the request's, v0..v8) to `code`. Returns how many topics it
 * set (0: the answer named none).
 */
export function rewriteMetadataErrors(f: Uint8Array, version: number, code: number): number {
  if (version > VERSION_CAPS[API_KEYS.Metadata]) {
    throw new WireError(`Metadata v${version} is above the proxy's cap`);
  }
  const view = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const r = new Reader(f, 4);
  if (version >= 3) r.int32(); // throttle_time_ms
  for (let b = r.arrayLength(); b > 0; b--) {
    r.int32(); // node_id
    r.string(); // host
    r.int32(); // port
    if (version >= 1) r.nullableString(); // rack
  }
  if (version >= 2) r.nullableString(); // cluster_id
  if (version >= 1) r.int32(); // controller_id
  let set = 0;
  for (let t = r.arrayLength(); t > 0; t--) {
    view.setInt16(r.offset, code);
    r.int16(); // error_code
    r.string(); // name
    if (version >= 1) r.int8(); // is_internal
    for (let p = r.arrayLength(); p > 0; p--) {
      r.skip(10); // error_code, partition_index, leader_id
      if (version >= 7) r.int32(); // leader_epoch
      r.skip(4 * r.arrayLength()); // replica_nodes
      r.skip(4 * r.arrayLength()); // isr_nodes
      if (version >= 5) r.skip(4 * r.arrayLength()); // offline_replicas
    }
    if (version >= 8) r.int32(); // topic_authorized_operations
    set++;
  }
  return set;
}
