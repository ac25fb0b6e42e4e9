/**
 * Commits must be durable: a sink may commit an offset only once everything
 * before it is stored. The harness samples the sink group's committed offsets
 * once a second from the workload's start to the end of settle
 * (chaos/commit_sampler.ts), keeping every change in `commits.jsonl`; this
 * checker holds each sampled commit against the times the store gives its
 * objects. Pure.
 *
 * An object's time is when its final content was first stored: its
 * LastModified, or earlier when the sampler saw the same key with the same
 * ETag in an earlier listing of the store (`{at_ms, seen, etag}` lines of
 * `commits.jsonl`). An honest sink that replays a batch after a rebalance
 * rewrites the same bytes under the same name, which moves LastModified past
 * commits that were durable; a sink that puts a placeholder and the real
 * content after its commit changes the ETag, which does not help it.
 *
 * - A commit of offset `o` on partition `p`, seen at `t`: every offset of `p`
 *   from the partition's start to `o - 1` must be covered by an `events/` or
 *   `dlq/` object stored by `t + COMMIT_TOLERANCE_MS` (an `events/` and a `dlq/`
 *   object of one batch share a range: the range counts as stored when both
 *   are). Else the commit was **ahead of the store**: "committed before
 *   stored", naming the first offset not stored by then and the object that
 *   stored it later (a sink that re-read the topic and filled its holes), or
 *   "not stored at all".
 * - At the end of settle (the last sample) every partition that holds records
 *   must be committed to its end: a sink that never commits the whole topic
 *   fails too.
 * - A line of `commits.jsonl` that is no sample is a finding; a run folder
 *   without the file (a run of an older harness) is not checked, and says so.
 *
 * ```ts
 * import { checkDurability, parseCommits } from "./commits.ts";
 * const d = checkDurability(parseCommits(text), stored.ranges, table.data.partitions);
 * d.verdict; // "pass" | "fail" | "unknown"
 * ```
 * @module
 */

import { parseBatchKey } from "../pipeline/batcher.ts";
import { combine, type Verdict } from "./verdict.ts";
import { isoTime, MAX_EPOCH_MS, printable } from "./printable.ts";

/** The sampled commits in the run folder. */
export const COMMITS_FILE = "commits.jsonl";

/**
 * How much later than the commit was seen an object may carry as its time. An honest sink's
 * object is stored before its commit, and the harness notes a commit after it saw it, so it needs
 * none on one machine (the local and docker stacks: MinIO and the harness read the same kernel
 * clock). It absorbs the clocks of an external stack's hosts (NTP keeps them within tens of ms)
 * and S3's rounding of LastModified; 2 s is far below what filling holes at the end, an upload
 * retried through an outage or one lost by a kill takes, which is what the check is for.
 */
export const COMMIT_TOLERANCE_MS = 2000;

/** One change of a partition's committed offset (`-1`: none yet), seen at `at_ms` (epoch ms). */
export interface CommitSample {
  at_ms: number;
  partition: number;
  offset: number;
}

/** The sampler's last line: when it ended, its reads of the group's offsets, and how they went. */
export interface CommitsEnd {
  end_ms: number;
  reads: number;
  failed: number;
  /** Whether the read at the end of settle succeeded (the last samples are then current). */
  final: boolean;
}

/** A store object seen in the sampler's listing at `at_ms` with that ETag (first time only). */
export interface SeenObject {
  at_ms: number;
  seen: string;
  etag: string;
}

/** What `commits.jsonl` holds. */
export interface CommitEvidence {
  samples: CommitSample[];
  /** Objects of the store as first seen with each ETag (absent in older runs). */
  seen?: SeenObject[];
  /** Null when the file has no end line (the run stopped before the end of settle). */
  end: CommitsEnd | null;
  /** Lines that are neither a sample nor the end line. */
  malformed: string[];
}

/** A stored batch object: its offset range and its LastModified (null: the store gave none). */
export interface StoredRange {
  key: string;
  partition: number;
  first: number;
  last: number;
  last_modified_ms: number | null;
  /** The final content's ETag (null: the store gave none). */
  etag?: string | null;
}

/** A partition of the topic: its log start offset and its end (the audit's bounds). */
export interface PartitionEnds {
  partition: number;
  low: number;
  high: number;
}

export interface DurabilityResult {
  verdict: Verdict;
  /** False: the run kept no `commits.jsonl`; nothing was checked (see `notes`). */
  checked: boolean;
  tolerance_ms: number;
  /** Reads of the group's offsets, and those that failed (skipped). */
  reads: number | null;
  failed: number | null;
  /** Sampled commits that claim records (offset past the partition's start). */
  commits: number;
  /** Of those, the commits ahead of the store. */
  ahead: number;
  /** Partitions holding records not committed to their end when settle ended. */
  not_committed: number;
  /** Malformed lines of commits.jsonl. */
  malformed: number;
  /** The first findings, in words. */
  samples: string[];
  reasons: string[];
  notes: string[];
}

const SAMPLE = 10;

/** The line of `commits.jsonl` for one sample, or for the end. */
export function commitsLine(x: CommitSample | CommitsEnd | SeenObject): string {
  return JSON.stringify(x) + "\n";
}

const isInt = (x: unknown, min: number) => Number.isSafeInteger(x) && (x as number) >= min;
/** A time a date holds (a line claiming another is no sample: it could not be shown or compared). */
const isTime = (x: unknown) => isInt(x, 0) && (x as number) <= MAX_EPOCH_MS;

/** Reads `commits.jsonl` back; a line that is neither a sample nor the end line is kept as malformed. */
export function parseCommits(text: string): CommitEvidence {
  const out: CommitEvidence = { samples: [], seen: [], end: null, malformed: [] };
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let x: Record<string, unknown> | null = null;
    try {
      const parsed = JSON.parse(line);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) x = parsed;
    } catch { /* below */ }
    if (x && isTime(x.at_ms) && isInt(x.partition, 0) && isInt(x.offset, -1)) {
      out.samples.push({
        at_ms: x.at_ms as number,
        partition: x.partition as number,
        offset: x.offset as number,
      });
    } else if (
      x && isTime(x.at_ms) && typeof x.seen === "string" && typeof x.etag === "string"
    ) {
      out.seen!.push({ at_ms: x.at_ms as number, seen: x.seen, etag: x.etag });
    } else if (
      x && isTime(x.end_ms) && isInt(x.reads, 0) && isInt(x.failed, 0) &&
      typeof x.final === "boolean" && out.end === null
    ) {
      out.end = {
        end_ms: x.end_ms as number,
        reads: x.reads as number,
        failed: x.failed as number,
        final: x.final,
      };
    } else {
      out.malformed.push(
        `${COMMITS_FILE} line ${i + 1} is not a commit sample: ${
          printable(JSON.stringify(line.slice(0, 80)))
        }`,
      );
    }
  });
  return out;
}

/** The range a stored object's key names, with its time; undefined for a key that is no batch. */
export function storedRange(
  key: string,
  lastModified: number | null,
  etag: string | null = null,
): StoredRange | undefined {
  const k = parseBatchKey(key);
  if (!k) return undefined;
  return {
    key,
    partition: k.partition,
    first: k.firstOffset,
    last: k.lastOffset,
    last_modified_ms: lastModified,
    etag,
  };
}

/**
 * When each object's final content was first stored: its LastModified, or the first listing that
 * saw the same key with the same ETag, whichever is earlier.
 */
function firstStored(
  objects: readonly StoredRange[],
  seen: readonly SeenObject[],
): StoredRange[] {
  const first = new Map<string, number>();
  for (const s of seen) {
    const id = `${s.seen}\n${s.etag}`;
    const at = first.get(id);
    if (at === undefined || s.at_ms < at) first.set(id, s.at_ms);
  }
  return objects.map((o) => {
    const at = o.etag ? first.get(`${o.key}\n${o.etag}`) : undefined;
    return at !== undefined && o.last_modified_ms !== null && at < o.last_modified_ms
      ? { ...o, last_modified_ms: at }
      : o;
  });
}

const iso = isoTime;

/** One range of a partition, stored when its last object was. */
interface Stored {
  first: number;
  last: number;
  at: number;
  key: string;
}

/** Per partition, its ranges sorted by first offset; an events/ and a dlq/ object of one range as one. */
function byPartition(objects: readonly StoredRange[]): Map<number, Stored[]> {
  const ranges = new Map<number, Map<string, Stored>>();
  for (const o of objects) {
    let m = ranges.get(o.partition);
    if (!m) ranges.set(o.partition, m = new Map());
    const id = `${o.first}-${o.last}`;
    const at = o.last_modified_ms!;
    const seen = m.get(id);
    if (!seen) m.set(id, { first: o.first, last: o.last, at, key: o.key });
    else if (at > seen.at) Object.assign(seen, { at, key: o.key });
  }
  return new Map(
    [...ranges].map(([p, m]) => [p, [...m.values()].sort((a, b) => a.first - b.first)]),
  );
}

/**
 * The first offset in `[low, until)` not covered by a range stored by `by`, or undefined when
 * all are. One pass over the ranges sorted by first offset: a range that starts past the
 * covered prefix ends it, none later can cover its next offset.
 */
function firstNotStored(
  ranges: readonly Stored[],
  low: number,
  until: number,
  by: number,
): number | undefined {
  let cursor = low;
  for (const r of ranges) {
    if (cursor >= until || r.first > cursor) break;
    if (r.at <= by && r.last + 1 > cursor) cursor = r.last + 1;
  }
  return cursor < until ? cursor : undefined;
}

/** The range that stored `offset` first (after `by`), if any. */
function storedLater(ranges: readonly Stored[], offset: number): Stored | undefined {
  let best: Stored | undefined;
  for (const r of ranges) {
    if (r.first <= offset && r.last >= offset && (!best || r.at < best.at)) best = r;
  }
  return best;
}

/**
 * Holds every sampled commit against the store's objects and their times, and the last commits
 * against the partitions' ends. `commits` null: the run kept none (not checked).
 */
export function checkDurability(
  commits: CommitEvidence | null,
  objects: readonly StoredRange[] | null,
  partitions: readonly PartitionEnds[],
  options: { toleranceMs?: number } = {},
): DurabilityResult {
  const tolerance = options.toleranceMs ?? COMMIT_TOLERANCE_MS;
  const r: DurabilityResult = {
    verdict: "pass",
    checked: commits !== null,
    tolerance_ms: tolerance,
    reads: commits?.end?.reads ?? null,
    failed: commits?.end?.failed ?? null,
    commits: 0,
    ahead: 0,
    not_committed: 0,
    malformed: commits?.malformed.length ?? 0,
    samples: [],
    reasons: [],
    notes: [],
  };
  if (!commits) {
    r.notes.push(
      `no ${COMMITS_FILE} in the run folder (a run of an older harness): commits not checked`,
    );
    return r;
  }
  const verdicts: Verdict[] = [];
  const sample = (what: string) => r.samples.length < SAMPLE && r.samples.push(what);
  if (commits.end && commits.end.failed > 0) {
    r.notes.push(
      `${commits.end.failed} of ${
        commits.end.reads + commits.end.failed
      } reads of the sink group's offsets failed (skipped)`,
    );
  }
  if (commits.samples.length === 0 && commits.end?.reads === 0) {
    verdicts.push("unknown");
    r.reasons.push("the sink group's committed offsets could never be read");
  }
  const bounds = new Map(partitions.map((b) => [b.partition, b]));

  // Every commit against the objects stored by the time it was seen.
  const timeless = (objects ?? []).filter((o) => o.last_modified_ms === null).length;
  const ranges = objects && timeless === 0
    ? byPartition(firstStored(objects, commits.seen ?? []))
    : null;
  const firstAhead = new Map<number, string>();
  for (const c of commits.samples) {
    const b = bounds.get(c.partition);
    const low = b?.low ?? 0;
    const until = Math.min(c.offset, b?.high ?? c.offset); // offsets past the end do not exist
    if (until <= low) continue;
    r.commits++;
    if (!ranges) continue;
    const own = ranges.get(c.partition) ?? [];
    const missing = firstNotStored(own, low, until, c.at_ms + tolerance);
    if (missing === undefined) continue;
    r.ahead++;
    if (firstAhead.has(c.partition)) continue;
    const later = storedLater(own, missing);
    const finding = `partition ${c.partition} offset ${c.offset} ` +
      `committed by ${iso(c.at_ms)}, but offset ${missing} ` +
      (later
        ? `was stored only at ${iso(later.at)} (${
          ((later.at - c.at_ms) / 1000).toFixed(1)
        } s later) in ${later.key}`
        : "was not stored at all");
    firstAhead.set(c.partition, finding);
    sample(`committed before stored: ${finding}`);
  }
  if (r.commits > 0 && !ranges) {
    verdicts.push("unknown");
    r.reasons.push(
      objects
        ? `the store gave no time for ${timeless} objects: commits could not be checked`
        : "the store's objects were not listed with their times: commits could not be checked",
    );
  }
  if (r.ahead > 0) {
    verdicts.push("fail");
    r.reasons.push(
      `committed before stored: ${r.ahead} commits on ${firstAhead.size} partitions were ahead ` +
        `of the store (first: ${[...firstAhead.values()][0]})`,
    );
  }

  // The last commits against the partitions' ends (one that received nothing needs no commit).
  const last = new Map<number, number>();
  for (const c of commits.samples) last.set(c.partition, c.offset);
  const behind: string[] = [];
  for (const b of [...bounds.values()].sort((x, y) => x.partition - y.partition)) {
    if (b.high <= b.low) continue;
    const committed = last.get(b.partition) ?? -1;
    if (committed >= b.high) continue;
    behind.push(
      committed <= b.low
        ? `partition ${b.partition}: nothing committed (it holds offsets ${b.low}..${b.high - 1})`
        : `partition ${b.partition}: committed to offset ${committed} of ${b.high}`,
    );
  }
  r.not_committed = behind.length;
  if (behind.length) {
    // The last read failed: the commits seen last may not be the last ones.
    const sure = commits.end?.final === true;
    verdicts.push(sure ? "fail" : "unknown");
    for (const x of behind) sample(`not committed within settle: ${x}`);
    r.reasons.push(
      `${behind.length} partitions were not committed to their end within settle` +
        (sure ? "" : " (as last read; the read at the end of settle failed)") +
        ` (first: ${behind[0]})`,
    );
  }

  if (commits.malformed.length) {
    verdicts.push("fail");
    for (const m of commits.malformed) sample(m);
    r.reasons.push(
      `${commits.malformed.length} lines of ${COMMITS_FILE} are not commit samples ` +
        `(first: ${commits.malformed[0]})`,
    );
  }
  r.verdict = combine(verdicts);
  return r;
}

/** The durability figures in one line, for the terminal and the reports. */
export function durabilityFigures(d: DurabilityResult): string {
  if (!d.checked) return d.notes[0] ?? "not checked";
  return `commits ${d.commits}, ahead of the store ${d.ahead}, partitions not committed to ` +
    `their end ${d.not_committed}, reads ${d.reads ?? "-"} (failed ${d.failed ?? "-"})` +
    (d.malformed ? `, malformed lines ${d.malformed}` : "") +
    `, tolerance ${d.tolerance_ms} ms`;
}
