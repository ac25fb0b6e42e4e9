/**
 * A worker of the store check (see store_check.ts): fetches and checks its
 * share of the objects with a client of its own, against the topic table it
 * shares with the coordinator, counting what the lines name into the
 * coordinator's shared counters under the shared read budget, and sends back
 * its other findings.
 * @module
 */

/// <reference lib="deno.worker" />

import { objectStore } from "../pipeline/store.ts";
import { newFindings } from "./object_check.ts";
import { checkObjects, type CheckReply, type CheckRequest } from "./store_check.ts";
import { TopicTable } from "./topic_table.ts";

self.onmessage = async (e: MessageEvent<CheckRequest>) => {
  try {
    const { shared } = e.data;
    const findings = newFindings(0, shared.budget);
    findings.heldEvents = shared.events;
    findings.heldDlq = shared.dlq;
    await checkObjects(objectStore(e.data.s3), e.data.keys, new TopicTable(e.data.table), findings);
    const { heldEvents: _e, heldDlq: _d, budget: _b, ...rest } = findings;
    self.postMessage({ findings: rest } satisfies CheckReply);
  } catch (error) {
    self.postMessage({ error: String((error as Error)?.stack ?? error) } satisfies CheckReply);
  }
};
