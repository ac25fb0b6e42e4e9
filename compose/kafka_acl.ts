/**
 * A run's Kafka ACLs on the local stack, whose brokers refuse whatever no ACL allows
 * (StandardAuthorizer, kafka_config.ts) to every user but the harness's (kafka_scram.ts):
 *
 * | user        | may                                                                   |
 * | ----------- | --------------------------------------------------------------------- |
 * | generator   | WRITE, DESCRIBE the run's topic; IDEMPOTENT_WRITE on the cluster      |
 * | sink        | READ, DESCRIBE the run's topic; READ its own group                    |
 * | detector    | READ, DESCRIBE the run's topic; READ its own group                    |
 * | pipeline    | both of the above (a phase submission's one script runs sink and detector) |
 *
 * Nothing else: no DELETE, ALTER, ALTER_CONFIGS, CREATE, CLUSTER_ACTION, no other topic and none
 * of the harness's groups (the audit's, the commit sampler's). So a graded pipeline cannot delete
 * or truncate the topic (records the sink lost would look like Kafka's loss), alter it, produce into
 * it or move the harness's offsets. The sink's DLQ is in the store, not in Kafka: no DLQ topic.
 * Granted when the run's topic is made (chaos/run_stack.ts), revoked at the run's end, Ctrl-C
 * included (chaos/run_context.ts `teardown`).
 *
 * ```ts
 * import { runAcls } from "./kafka_acl.ts";
 * const grants = runAcls({ topic: "network-telemetry", sinkGroup: "s", detectorGroup: "d",
 *   users: { generator: "g", sink: "s", detector: "d", pipeline: "p" } });
 * ```
 * @module
 */

import {
  type AclEntry,
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  type Admin,
  ResourcePatternTypes,
} from "kafkajs";
import type { KafkaUsers } from "./kafka_scram.ts";

/** The operations a run grants, and the resources they are on. */
export const GRANTED_OPERATIONS = ["READ", "WRITE", "DESCRIBE", "IDEMPOTENT_WRITE"] as const;
export type GrantedOperation = typeof GRANTED_OPERATIONS[number];
export type AclResource = "topic" | "group" | "cluster";

/** One ALLOW ACL: `principal` may `operation` on the resource `name` (literal, any host). */
export interface AclGrant {
  principal: string;
  resource: AclResource;
  name: string;
  operation: GrantedOperation;
}

export interface RunAclInput {
  topic: string;
  sinkGroup: string;
  detectorGroup: string;
  /** The user names of the pipeline's parts (kafka_scram.ts). */
  users: { generator: string; sink: string; detector: string; pipeline: string };
}

/** The run's grants on a stack with SCRAM users (kafka_scram.ts); none without them. */
export function stackRunAcls(
  users: KafkaUsers | undefined,
  names: Omit<RunAclInput, "users">,
): AclGrant[] | undefined {
  if (!users) return undefined;
  return runAcls({
    ...names,
    users: {
      generator: users.generator.username,
      sink: users.sink.username,
      detector: users.detector.username,
      pipeline: users.pipeline.username,
    },
  });
}

export class AclPlanError extends Error {
  override name = "AclPlanError";
}

/** Kafka's name of the cluster resource. */
export const CLUSTER_RESOURCE = "kafka-cluster";

/** The run's ACLs (see the module doc). */
export function runAcls(input: RunAclInput): AclGrant[] {
  const { topic, sinkGroup, detectorGroup, users } = input;
  const reader = (user: string, group: string): AclGrant[] => [
    { principal: `User:${user}`, resource: "topic", name: topic, operation: "READ" },
    { principal: `User:${user}`, resource: "topic", name: topic, operation: "DESCRIBE" },
    { principal: `User:${user}`, resource: "group", name: group, operation: "READ" },
  ];
  const g = `User:${users.generator}`;
  const grants: AclGrant[] = [
    { principal: g, resource: "topic", name: topic, operation: "WRITE" },
    { principal: g, resource: "topic", name: topic, operation: "DESCRIBE" },
    { principal: g, resource: "cluster", name: CLUSTER_RESOURCE, operation: "IDEMPOTENT_WRITE" },
    ...reader(users.sink, sinkGroup),
    ...reader(users.detector, detectorGroup),
    ...reader(users.pipeline, sinkGroup),
    {
      principal: `User:${users.pipeline}`,
      resource: "group",
      name: detectorGroup,
      operation: "READ",
    },
  ];
  checkGrants(grants, input);
  return grants;
}

/**
 * Refuses grants beyond a run's: an operation not in GRANTED_OPERATIONS, a name that is a
 * wildcard or not one of the run's, the cluster for anything but IDEMPOTENT_WRITE, a principal
 * that is not a plain user.
 */
export function checkGrants(grants: readonly AclGrant[], input: RunAclInput): void {
  const groups = new Set([input.sinkGroup, input.detectorGroup]);
  for (const a of grants) {
    const what = `${a.principal} ${a.operation} ${a.resource} ${a.name}`;
    if (!(GRANTED_OPERATIONS as readonly string[]).includes(a.operation)) {
      throw new AclPlanError(`${what}: ${a.operation} is never granted to a pipeline`);
    }
    if (!/^User:[A-Za-z0-9_.-]+$/.test(a.principal)) {
      throw new AclPlanError(`${what}: not a plain user`);
    }
    const ok = a.resource === "topic"
      ? a.name === input.topic && a.operation !== "IDEMPOTENT_WRITE"
      : a.resource === "group"
      ? groups.has(a.name) && a.operation === "READ"
      : a.name === CLUSTER_RESOURCE && a.operation === "IDEMPOTENT_WRITE";
    if (!ok || a.name === "*" || a.name === "") {
      throw new AclPlanError(`${what}: not one of the run's resources and rights`);
    }
  }
}

const RESOURCE_TYPES: Record<AclResource, AclResourceTypes> = {
  topic: AclResourceTypes.TOPIC,
  group: AclResourceTypes.GROUP,
  cluster: AclResourceTypes.CLUSTER,
};

/** kafkajs's ACL entries for `grants`. */
export function kafkajsAcls(grants: readonly AclGrant[]): AclEntry[] {
  return grants.map((a) => ({
    resourceType: RESOURCE_TYPES[a.resource],
    resourceName: a.name,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: a.principal,
    host: "*",
    operation: AclOperationTypes[a.operation],
    permissionType: AclPermissionTypes.ALLOW,
  }));
}

/**
 * Creates the grants (the harness's admin, a super user), then waits (10 s at most) until a broker
 * lists them all: ACLs reach each broker with the cluster's metadata, a moment after the
 * controller took them (a client that comes too soon is refused, e.g. an idempotent producer's
 * InitProducerId: CLUSTER_AUTHORIZATION_FAILED), and `settleMs` more for the other brokers.
 */
export async function grantAcls(
  admin: Admin,
  grants: readonly AclGrant[],
  settleMs = 500,
): Promise<void> {
  await admin.createAcls({ acl: kafkajsAcls(grants) });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const listed = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ALLOW,
    }).then((r) => r.resources.reduce((n, res) => n + res.acls.length, 0)).catch(() => 0);
    if (listed >= grants.length || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, settleMs));
}

/** Deletes exactly the grants; returns how many ACLs went. */
export async function revokeAcls(admin: Admin, grants: readonly AclGrant[]): Promise<number> {
  const result = await admin.deleteAcls({ filters: kafkajsAcls(grants) });
  return result.filterResponses.reduce((n, r) => n + (r.matchingAcls?.length ?? 0), 0);
}
