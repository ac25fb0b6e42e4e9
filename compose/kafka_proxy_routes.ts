/**
 * The kafka proxy's listeners, one set per pipeline component: what lets a
 * fault target the sink, the detector or the generator by something the
 * client cannot choose (the port it was given), not by the client id it sends.
 *
 * For broker i, the harness's listener is the port the broker advertises
 * (base+100+10i+6, the stack's bootstrap: admin, audit, tools), and each
 * component has its own next to it (`LISTENER_OFFSET`): the sink +7, the
 * detector +8, the generator +9. A component's bootstrap lists its own ports
 * (kafka_proxy_control.ts `listenerBootstrap`), and on its listeners the
 * proxy points every answer that names brokers at the component's ports: the
 * ports of a Metadata answer's brokers and of a FindCoordinator answer's
 * coordinator are set in place. An answer it cannot set (an API version above
 * its caps, DescribeCluster) would name the harness's ports: such a request
 * is refused (the connection is cut), and a sandboxed pipeline reaches only
 * its components' ports anyway (chaos/components.ts `contractEndpoints`).
 *
 * ```ts
 * import { rewriteMetadataPorts } from "./kafka_proxy_routes.ts";
 * rewriteMetadataPorts(answer, 8, (node) => 29117 + 10 * (node - 1)); // brokers' ports: the sink's
 * ```
 * @module
 */

import { API_KEYS, Reader, VERSION_CAPS, WireError } from "./kafka_wire.ts";
import type { ProxyListener } from "./kafka_proxy_mode.ts";

/** Each listener's port, from the broker's advertised proxy port (the harness's). */
export const LISTENER_OFFSET: Readonly<Record<ProxyListener, number>> = {
  harness: 0,
  sink: 1,
  detector: 2,
  generator: 3,
};

/** The port of `listener` for a broker whose advertised proxy port is `advertised`. */
export function listenerPort(advertised: number, listener: ProxyListener): number {
  return advertised + LISTENER_OFFSET[listener];
}

/** DescribeCluster: its answer names the brokers' advertised endpoints. */
const DESCRIBE_CLUSTER = 60;

/**
 * APIs a pipeline component never needs and that would let it rewrite the harness's ground truth
 * or the cluster under the run (where the cluster has no authorizer; where it has, a second wall
 * behind its ACLs, compose/kafka_acl.ts): delete or truncate the run's topic (DeleteTopics,
 * DeleteRecords, AlterConfigs retention), add its partitions, move its leaders or
 * replicas, delete groups or their offsets, change features, quotas, ACLs, credentials, brokers,
 * or send inter-broker and controller requests; DescribeQuorum names the controllers' endpoints.
 * Refused on a component's listener (the connection is cut), by key.
 */
export const HARNESS_ONLY_APIS: Readonly<Record<number, string>> = {
  4: "LeaderAndIsr",
  5: "StopReplica",
  6: "UpdateMetadata",
  7: "ControlledShutdown",
  20: "DeleteTopics",
  21: "DeleteRecords",
  27: "WriteTxnMarkers",
  30: "CreateAcls",
  31: "DeleteAcls",
  33: "AlterConfigs",
  34: "AlterReplicaLogDirs",
  37: "CreatePartitions",
  42: "DeleteGroups",
  43: "ElectLeaders",
  44: "IncrementalAlterConfigs",
  45: "AlterPartitionReassignments",
  47: "OffsetDelete",
  49: "AlterClientQuotas",
  51: "AlterUserScramCredentials",
  52: "Vote",
  53: "BeginQuorumEpoch",
  54: "EndQuorumEpoch",
  55: "DescribeQuorum",
  56: "AlterPartition",
  57: "UpdateFeatures",
  58: "Envelope",
  62: "BrokerRegistration",
  63: "BrokerHeartbeat",
  64: "UnregisterBroker",
  67: "AllocateProducerIds",
  80: "AddRaftVoter",
  81: "RemoveRaftVoter",
  82: "UpdateRaftVoter",
};

/**
 * What a component's listener does with a request of `apiKey`/`version`: `pass` (its answer names
 * no broker), `rewrite` (a Metadata or FindCoordinator answer the proxy points at the component's
 * ports), or `refuse` (its answer would name brokers at ports the proxy cannot set, or it is one
 * of the HARNESS_ONLY_APIS).
 */
export function routing(apiKey: number, version: number): "pass" | "rewrite" | "refuse" {
  if (apiKey === API_KEYS.Metadata || apiKey === API_KEYS.FindCoordinator) {
    return version <= VERSION_CAPS[apiKey] ? "rewrite" : "refuse";
  }
  return apiKey === DESCRIBE_CLUSTER || apiKey in HARNESS_ONLY_APIS ? "refuse" : "pass";
}

/** What a rewrite did: the ports set, and the node ids it had no port for (left as they were). */
export interface PortsSet {
  set: number;
  unknown: number[];
}

/**
 * Sets, in place, the port of every broker a Metadata answer names (`f`: the response frame,
 * header v0 included; `version` the request's, v0..v8) to `portOf(node id)`.
 */
export function rewriteMetadataPorts(
  f: Uint8Array,
  version: number,
  portOf: (node: number) => number | undefined,
): PortsSet {
  if (version > VERSION_CAPS[API_KEYS.Metadata]) {
    throw new WireError(`Metadata v${version} is above the proxy's cap`);
  }
  const view = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const r = new Reader(f, 4);
  if (version >= 3) r.int32(); // throttle_time_ms
  const out: PortsSet = { set: 0, unknown: [] };
  for (let b = r.arrayLength(); b > 0; b--) {
    const node = r.int32();
    r.string(); // host
    setPort(view, r, node, portOf, out);
    if (version >= 1) r.nullableString(); // rack
  }
  return out;
}

/**
 * Sets, in place, the port of a FindCoordinator answer's coordinator (v0..v2; none when it
 * failed: node -1) to `portOf(node id)`.
 */
export function rewriteCoordinatorPort(
  f: Uint8Array,
  version: number,
  portOf: (node: number) => number | undefined,
): PortsSet {
  if (version > VERSION_CAPS[API_KEYS.FindCoordinator]) {
    throw new WireError(`FindCoordinator v${version} is above the proxy's cap`);
  }
  const view = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const r = new Reader(f, 4);
  if (version >= 1) r.int32(); // throttle_time_ms
  r.int16(); // error_code
  if (version >= 1) r.nullableString(); // error_message
  const node = r.int32();
  r.string(); // host
  const out: PortsSet = { set: 0, unknown: [] };
  if (node < 0) {
    r.int32();
    return out;
  }
  setPort(view, r, node, portOf, out);
  return out;
}

function setPort(
  view: DataView,
  r: Reader,
  node: number,
  portOf: (node: number) => number | undefined,
  out: PortsSet,
): void {
  const at = r.offset;
  r.int32(); // port
  const port = portOf(node);
  if (port === undefined) {
    out.unknown.push(node);
    return;
  }
  view.setInt32(at, port);
  out.set++;
}
