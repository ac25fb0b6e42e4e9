/**
 * Resolves a fault's target when the fault fires, and says what it resolved
 * to (recorded in the history): `broker:leader(topic,p)`, `broker:controller`,
 * `broker:random` (seeded), `broker:<id>`, `broker:leader-of-incident(n)` (the
 * leader of the partition that carries incident n's entity, keyed like the
 * generator keys it), `all-brokers`, `sink`, `detector`, `redis`, `minio`,
 * `webhook`.
 * @module
 */

import { type Admin, Partitioners } from "kafkajs";
import type { Incident } from "../pipeline/anomalies.ts";
import { TOPIC_DEFAULT } from "../pipeline/event.ts";
import type { Rng } from "../pipeline/rng.ts";
import type { Binaries } from "../compose/provision.ts";
import { brokerNode, type Stack } from "../compose/stack.ts";
import { activeController } from "../compose/quorum.ts";

export interface Resolved {
  nodes: string[];
  observed: Record<string, unknown>;
}

export interface ResolveContext {
  stack: Stack;
  /** Java and Kafka's classpath, for Kafka's own tools. */
  binaries: Binaries;
  admin: Admin;
  topic: string;
  rng: Rng;
  /** Incidents in the order the scenario lists them. */
  incidents: readonly Incident[];
}

async function leaderOf(ctx: ResolveContext, topic: string, partition: number): Promise<number> {
  const meta = await ctx.admin.fetchTopicMetadata({ topics: [topic] });
  const p = meta.topics[0].partitions.find((x) => x.partitionId === partition);
  if (!p) throw new Error(`topic ${topic} has no partition ${partition}`);
  // During an election the metadata names no leader (-1): nothing to aim at yet.
  if (!ctx.stack.brokerIds().includes(p.leader)) {
    throw new Error(`partition ${topic}/${partition} has no leader (metadata says ${p.leader})`);
  }
  return p.leader;
}

/** The partition kafkajs's default partitioner picks for `key`. */
async function partitionForKey(admin: Admin, topic: string, key: string): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitioner = Partitioners.DefaultPartitioner();
  return partitioner({
    topic,
    partitionMetadata: meta.topics[0].partitions,
    message: { key, value: null },
  });
}

export async function resolveTarget(target: string, ctx: ResolveContext): Promise<Resolved> {
  let m;
  if ((m = target.match(/^broker:(\d+)$/))) {
    return { nodes: [brokerNode(Number(m[1]))], observed: { broker: Number(m[1]) } };
  }
  if ((m = target.match(/^broker:leader\(([\w.-]+),(\d+)\)$/))) {
    // The scenarios' "network-telemetry" is the run's topic (an external run has its own name).
    const topic = m[1] === TOPIC_DEFAULT ? ctx.topic : m[1];
    const leader = await leaderOf(ctx, topic, Number(m[2]));
    return {
      nodes: [brokerNode(leader)],
      observed: { leader_was: leader, topic, partition: Number(m[2]) },
    };
  }
  if ((m = target.match(/^broker:leader-of-incident\((\d+)\)$/))) {
    const incident = ctx.incidents[Number(m[1])];
    if (!incident) throw new Error(`no incident ${m[1]}`);
    const partition = await partitionForKey(ctx.admin, ctx.topic, incident.entity);
    const leader = await leaderOf(ctx, ctx.topic, partition);
    return {
      nodes: [brokerNode(leader)],
      observed: { leader_was: leader, partition, incident: incident.id, entity: incident.entity },
    };
  }
  if (target === "broker:controller") {
    // The quorum's leader, from Kafka's own tool: in KRaft the Metadata response's controller is
    // a random broker (KIP-590), so describeCluster() would name the wrong node.
    const controller = await activeController(ctx.binaries, ctx.stack.endpoints.kafka.bootstrap);
    return {
      nodes: [brokerNode(controller)],
      observed: { controller_was: controller },
    };
  }
  if (target === "broker:random") {
    const running = ctx.stack.brokerIds().filter((id) =>
      ctx.stack.broker(id).state() === "running"
    );
    const id = ctx.rng.pick(running);
    return { nodes: [brokerNode(id)], observed: { broker: id } };
  }
  if (target === "all-brokers") {
    return {
      nodes: ctx.stack.brokerIds().map((id) => brokerNode(id)),
      observed: { brokers: ctx.stack.brokerIds() },
    };
  }
  if ((m = target.match(/^link:(\d+)-(\d+)$/))) {
    return { nodes: [target], observed: { link: [Number(m[1]), Number(m[2])] } };
  }
  if (target === "webhook") return { nodes: [], observed: {} };
  return { nodes: [target], observed: {} };
}
