/**
 * A worker of the store check (see store_check.ts): fetches and checks its
 * share of the objects with a client of its own, against the topic table it
 * shares with the coordinator, and sends back its findings (the record
 * indices transferred, not copied).
 * @module
 */

/// <reference lib="deno.worker" />

import { objectStore } from "../pipeline/store.ts";
import { newFindings } from "./object_check.ts";
import { checkObjects, type CheckReply, type CheckRequest } from "./store_check.ts";
import { TopicTable } from "./topic_table.ts";

self.onmessage = async (e: MessageEvent<CheckRequest>) => {
  try {
    const findings = newFindings();
    await checkObjects(objectStore(e.data.s3), e.data.keys, new TopicTable(e.data.table), findings);
    const heldEvents = Int32Array.from(findings.heldEvents);
    const heldDlq = Int32Array.from(findings.heldDlq);
    const reply: CheckReply = { findings: { ...findings, heldEvents, heldDlq } };
    self.postMessage(reply, [heldEvents.buffer, heldDlq.buffer]);
  } catch (error) {
    self.postMessage({ error: String((error as Error)?.stack ?? error) } satisfies CheckReply);
  }
};
