/**
 * Test fixture: the flows the generator really writes, 3,000 baseline flows and the first 300 of
 * each incident kind's, drawn from `seed`.
 * @module
 */

import { INCIDENT_KINDS, incidentEntity, planIncident } from "./anomalies.ts";
import { Rng } from "./rng.ts";
import { baselineFlow } from "./traffic.ts";

export function generatorFlows(seed: string): ReturnType<typeof baselineFlow>[] {
  const rng = new Rng(seed);
  const flows = Array.from({ length: 3000 }, () => baselineFlow(rng));
  for (const kind of INCIDENT_KINDS) {
    const { flows: planned } = planIncident(rng, {
      id: "i1",
      kind,
      entity: incidentEntity(kind, 0),
      start_ms: 1_000_000,
      duration_ms: 20_000,
    });
    flows.push(...planned.slice(0, 300).map((p) => p.flow));
  }
  return flows;
}
