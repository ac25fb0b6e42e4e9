/**
 * The Kafka names of a run: the topic the generator produces to and the
 * pipeline's consumer groups. Fixed on a stack of the run's own; of the run's
 * own on an external cluster.
 * @module
 */

import type { StackKind } from "../compose/stack.ts";

/** The topic every run produces to, and the consumer groups of the pipeline. */
export const TOPIC = "network-telemetry";
export const SINK_GROUP = "telemetry-sink";
export const DETECTOR_GROUP = "telemetry-detector";

/** The Kafka names of one run: its topic and the pipeline's consumer groups. */
export interface RunNames {
  topic: string;
  sinkGroup: string;
  detectorGroup: string;
}

/**
 * The run's names: the fixed ones on a stack of the run's own; on an external cluster, shared
 * with others and with earlier runs, names of the run's own (`network-telemetry-<run id>`), so
 * that no earlier record, commit or stored object of that name can count for this run.
 */
export function runNames(kind: StackKind, runId: string): RunNames {
  if (kind !== "external") {
    return { topic: TOPIC, sinkGroup: SINK_GROUP, detectorGroup: DETECTOR_GROUP };
  }
  const suffix = runId.replace(/[^\w.-]/g, "_");
  return {
    topic: `${TOPIC}-${suffix}`,
    sinkGroup: `${SINK_GROUP}-${suffix}`,
    detectorGroup: `${DETECTOR_GROUP}-${suffix}`,
  };
}
