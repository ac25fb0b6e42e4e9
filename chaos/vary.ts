/**
 * Times that vary with the seed, so that nothing can be tuned to a scenario's
 * fixed timeline (graded runs draw their seed per grading). `varyScenario`
 * returns a copy of a validated scenario whose incidents and faults start at
 * times shifted by amounts drawn from the seed, and whose `seed` is that seed;
 * kinds, targets, durations and `heal_after` are kept, and so is everything the
 * timeline means:
 *
 * - every incident ends inside the workload and leaves as much time after it
 *   as the scenario did, up to `slide + out_of_order` and 10 s more (the window
 *   that holds the whole incident closes that soon after its end, so its alert
 *   is due while events still flow);
 * - every fault stays inside the workload, no earlier than 10 s unless it was,
 *   and leaves as much time after its heal (or after it, when one-shot) for
 *   recovery as the scenario did, up to 30 s;
 * - a fault that falls inside an incident's span (the first such, or the one
 *   it targets with `broker:leader-of-incident(n)`) moves with that incident
 *   and stays inside its span;
 * - the order of all injects and heals is kept (a restart between a kill and
 *   its heal stays between them; faults at one time stay together).
 *
 * Shifts are whole 100 ms within `max_shift_ms` (default 5 s). A draw that
 * breaks a rule is drawn again, with smaller shifts after every few tries;
 * the last resort is the scenario's own times. Pure: the same scenario and seed
 * give the same copy.
 *
 * ```ts
 * import { varyScenario } from "./vary.ts";
 * const varied = varyScenario(await loadScenario("graded-smoke"), 1234);
 * varied.workload.incidents[0].at; // "9300ms" where the file says "8s"
 * ```
 * @module
 */

import { formatDuration } from "../lib/duration.ts";
import { Rng } from "../pipeline/rng.ts";
import { FAULTS, type FaultTable } from "./faults/mod.ts";
import { ms, type Scenario } from "./scenario.ts";

export interface VaryOptions {
  /** The largest shift of a time, either way (default 5000 ms). */
  max_shift_ms?: number;
  /** The table of faults, for which kinds are one-shot (default the harness's). */
  table?: FaultTable;
}

/** Faults start no earlier than this unless the scenario's already did (the `before` phase). */
export const EARLIEST_FAULT_MS = 10_000;
/** Incidents start no earlier than this unless the scenario's already did. */
export const EARLIEST_INCIDENT_MS = 5_000;
/** The recovery time after a fault's end that a shift may not eat into (when it was there). */
export const RECOVERY_MS = 30_000;
/** Added to `slide + out_of_order` for the time after an incident a shift may not eat into. */
export const ALERT_MARGIN_MS = 10_000;

const STEP_MS = 100;
const TRIES = 32;

/** The times of a scenario that vary: incident and fault starts, in ms. */
export interface Times {
  incidents: number[];
  faults: number[];
}

/** The scenario's own times. */
export function timesOf(s: Scenario): Times {
  return {
    incidents: s.workload.incidents.map((i) => ms(i.at)),
    faults: s.faults.map((f) => ms(f.at)),
  };
}

/** A copy of `scenario` with its times shifted as drawn from `seed` (see the module doc). */
export function varyScenario(
  scenario: Scenario,
  seed: number,
  options: VaryOptions = {},
): Scenario {
  const max = options.max_shift_ms ?? 5000;
  const table = options.table ?? FAULTS;
  const rng = new Rng(`${seed}/vary/${scenario.name}`);
  let times = timesOf(scenario);
  for (let k = 0; k < TRIES; k++) {
    const scale = max / 2 ** Math.floor(k / 4);
    const drawn = draw(scenario, rng, scale);
    if (varyProblems(scenario, drawn, table).length === 0) {
      times = drawn;
      break;
    }
  }
  return withTimes(scenario, times, seed);
}

/** The scenario with `times`, and `seed` as its seed. */
function withTimes(s: Scenario, times: Times, seed: number): Scenario {
  return {
    ...s,
    seed,
    workload: {
      ...s.workload,
      incidents: s.workload.incidents.map((inc, i) => ({
        ...inc,
        at: formatDuration(times.incidents[i]),
      })),
    },
    faults: s.faults.map((f, i) => ({ ...f, at: formatDuration(times.faults[i]) })),
  };
}

/** One draw of shifts of at most `scale` ms: incidents each, faults with their anchor's. */
function draw(s: Scenario, rng: Rng, scale: number): Times {
  const steps = Math.floor(scale / STEP_MS);
  const shift = (n: number) => rng.int(-n, n) * STEP_MS;
  const own = timesOf(s);
  const incShift = own.incidents.map(() => shift(steps));
  // Faults at one time (of one anchor) share their shift, so they stay together.
  const byTime = new Map<string, number>();
  const anchors = faultAnchors(s);
  const faults = own.faults.map((at, i) => {
    const key = `${anchors[i]}@${at}`;
    if (!byTime.has(key)) {
      byTime.set(key, anchors[i] === undefined ? shift(steps) : shift(Math.floor(steps / 2)));
    }
    const d = byTime.get(key)! + (anchors[i] === undefined ? 0 : incShift[anchors[i]!]);
    return at + Math.max(-steps * STEP_MS, Math.min(steps * STEP_MS, d));
  });
  return { incidents: own.incidents.map((at, i) => at + incShift[i]), faults };
}

/** Per fault, the incident it moves with: the one it targets, else the first whose span holds it. */
export function faultAnchors(s: Scenario): (number | undefined)[] {
  const spans = s.workload.incidents.map((i) => [ms(i.at), ms(i.at) + ms(i.duration)]);
  return s.faults.map((f) => {
    const m = f.target.match(/^broker:leader-of-incident\((\d+)\)$/);
    if (m) return Number(m[1]);
    const at = ms(f.at);
    const n = spans.findIndex(([a, b]) => at >= a && at < b);
    return n < 0 ? undefined : n;
  });
}

/**
 * What `times` would break of the rules in the module doc, compared with the
 * scenario's own times, as messages (none: the times keep the scenario meaningful).
 */
export function varyProblems(s: Scenario, times: Times, table: FaultTable = FAULTS): string[] {
  const problems: string[] = [];
  const end = ms(s.workload.duration);
  const own = timesOf(s);
  const tailNeeded = ms(s.detector.slide) + ms(s.detector.out_of_order) + ALERT_MARGIN_MS;
  s.workload.incidents.forEach((inc, i) => {
    const [was, at, d] = [own.incidents[i], times.incidents[i], ms(inc.duration)];
    if (at < Math.min(was, EARLIEST_INCIDENT_MS)) {
      problems.push(`incident ${i} starts at ${at} ms, before ${EARLIEST_INCIDENT_MS} ms`);
    }
    const tail = Math.min(end - (was + d), tailNeeded);
    if (at + d > end - tail) {
      problems.push(`incident ${i} ends at ${at + d} ms, leaving less than ${tail} ms`);
    }
  });
  const anchors = faultAnchors(s);
  const points: { was: number; now: number; heal: boolean; what: string }[] = [];
  s.faults.forEach((f, i) => {
    const [was, at] = [own.faults[i], times.faults[i]];
    const lasts = f.heal_after === undefined ? undefined : ms(f.heal_after);
    const oneShot = Boolean(table[f.kind]?.oneShot);
    if (at < Math.min(was, EARLIEST_FAULT_MS)) {
      problems.push(`fault ${i} at ${at} ms, before ${EARLIEST_FAULT_MS} ms`);
    }
    // Its end: the heal, or the inject itself when one-shot or healed by the workload's end.
    const last = (t: number) => lasts === undefined || oneShot ? t : Math.min(end, t + lasts);
    const room = Math.min(end - last(was), RECOVERY_MS);
    if (at > end || last(at) > end - room) {
      problems.push(`fault ${i} ends at ${last(at)} ms, leaving less than ${room} ms`);
    }
    const n = anchors[i];
    if (n !== undefined) {
      const inc = s.workload.incidents[n];
      const span = (start: number) => [start, start + ms(inc.duration)];
      const [a0, b0] = span(own.incidents[n]);
      const [a, b] = span(times.incidents[n]);
      if (was >= a0 && was < b0 && !(at >= a && at < b)) {
        problems.push(`fault ${i} at ${at} ms is outside incident ${n} (${a}..${b} ms)`);
      }
    }
    points.push({ was, now: at, heal: false, what: `fault ${i}` });
    if (lasts !== undefined && !oneShot) {
      points.push({ was: last(was), now: last(at), heal: true, what: `fault ${i}'s heal` });
    }
  });
  // The order of injects and heals: what came before still does; injects at one time stay
  // together (a heal at an inject's time may come first, as the planner does).
  for (const p of points) {
    for (const q of points) {
      if (p === q) continue;
      const before = p.was < q.was || (p.was === q.was && p.heal && !q.heal);
      if (before && p.now > q.now) problems.push(`${p.what} now comes after ${q.what}`);
      if (p.was === q.was && !p.heal && !q.heal && p.now !== q.now) {
        problems.push(`${p.what} and ${q.what} no longer start together`);
      }
    }
  }
  return [...new Set(problems)];
}
