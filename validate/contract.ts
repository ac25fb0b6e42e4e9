/**
 * The pipeline contract's version (docs/contract.md says it on its first
 * line), what each version asked for, and the names a pipeline written to an
 * earlier version stores: such an object is still foreign (the verdict does
 * not change), but its finding says which version it follows and what this
 * one wants instead, so that its authors know what to change.
 *
 * ```ts
 * import { CONTRACT_VERSION, earlierContractName } from "./contract.ts";
 * CONTRACT_VERSION; // 2
 * earlierContractName("dlq/t/partition=0/part-0-00000000000000000000-00000000000000000009.ndjson.gz");
 * // { version: 1, text: "dlq objects named `.ndjson.gz` (contract v1); this contract (v2) wants `.jsonl.gz`" }
 * ```
 * @module
 */

import { parseBatchKey } from "../pipeline/batcher.ts";

/** The version of docs/contract.md that runs are judged against. */
export const CONTRACT_VERSION = 2;

/** One line per version: what it asked for that the other does not. */
export const CONTRACT_VERSIONS: Readonly<Record<number, string>> = {
  1: "dlq objects named .ndjson.gz; an alert matched its incident by rule, entity and any " +
    "overlapping window",
  2: "dlq objects named .jsonl.gz; alerts judged for their window, value and causality; " +
    "commits must be durable; the ledger is not in the store",
};

/** A store key that follows an earlier version of the contract, and what this one wants. */
export interface EarlierContractName {
  version: number;
  /** `dlq objects named `.ndjson.gz` (contract v1); this contract (v2) wants `.jsonl.gz``. */
  text: string;
}

/** What `key` is under an earlier contract, when it is a name one of them asked for. */
export function earlierContractName(key: string): EarlierContractName | undefined {
  const k = parseBatchKey(key);
  if (k?.kind === "dlq" && key.endsWith(".ndjson.gz")) {
    return {
      version: 1,
      text: `dlq objects named \`.ndjson.gz\` (contract v1); this contract ` +
        `(v${CONTRACT_VERSION}) wants \`.jsonl.gz\``,
    };
  }
  return undefined;
}
