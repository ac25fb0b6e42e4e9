/**
 * Event-time sliding windows with watermarks, for the detector. Pure: events
 * and wall-clock time are passed in, so tests drive it with fake time.
 *
 * Windows are `sizeMs` long and start every `slideMs` (defaults 60 s and 10 s),
 * aligned to multiples of `slideMs`. State is kept per pane (one slide long);
 * a window is the combination of its `sizeMs / slideMs` panes.
 *
 * Watermark: per partition, the largest event time seen minus
 * `outOfOrderMs` (default 5 s); the global watermark is the smallest over the
 * partitions that are not idle (no event for `idleMs` of wall time, default
 * 10 s), so an idle partition does not hold windows back forever. A window
 * `[start, end)` fires once the watermark reaches `end + latenessMs`. An event
 * whose last window has fired is late: counted and dropped.
 *
 * ```ts
 * import { SlidingWindows } from "./windows.ts";
 * const w = new SlidingWindows<number>({ create: () => 0, add: (a, x: number) => a + x, merge: (a, b) => a + b });
 * w.add(0, "10.0.0.1", 1_000, 5, Date.now());
 * for (const fired of w.advance(Date.now())) console.log(fired.start, fired.entities);
 * ```
 * @module
 */

export interface WindowOptions {
  /** Default 60000. */
  sizeMs?: number;
  /** Default 10000. */
  slideMs?: number;
  /** Default 5000. */
  outOfOrderMs?: number;
  /** Default 0. */
  latenessMs?: number;
  /** Default 10000. */
  idleMs?: number;
}

export interface Aggregator<A, X> {
  create(): A;
  add(acc: A, value: X): A;
  /** Combines two panes into a new accumulator (must not modify either). */
  merge(a: A, b: A): A;
}

export interface FiredWindow<A> {
  start: number;
  end: number;
  /** Entity -> aggregate over the whole window. */
  entities: Map<string, A>;
}

export class SlidingWindows<A, X = unknown> {
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly outOfOrderMs: number;
  readonly latenessMs: number;
  readonly idleMs: number;
  readonly #agg: Aggregator<A, X>;
  /** pane start -> entity -> aggregate */
  readonly #panes = new Map<number, Map<string, A>>();
  readonly #partitions = new Map<number, { maxTs: number; lastSeenWall: number }>();
  /** entity -> panes that gained events since the last `takeTouched()` (when tracked). */
  #touched: Map<string, Set<number>> | undefined;
  /** End of the last window that fired. */
  #firedUntil = -Infinity;
  #late = 0;

  constructor(agg: Aggregator<A, X>, options: WindowOptions = {}, trackTouched = false) {
    this.#agg = agg;
    if (trackTouched) this.#touched = new Map();
    this.sizeMs = options.sizeMs ?? 60_000;
    this.slideMs = options.slideMs ?? 10_000;
    this.outOfOrderMs = options.outOfOrderMs ?? 5_000;
    this.latenessMs = options.latenessMs ?? 0;
    this.idleMs = options.idleMs ?? 10_000;
    if (this.sizeMs % this.slideMs !== 0) {
      throw new RangeError(
        `window size ${this.sizeMs} must be a multiple of the slide ${this.slideMs}`,
      );
    }
  }

  /** Events dropped because their windows had already fired. */
  get late(): number {
    return this.#late;
  }

  /** Every window ending at or before this has closed. */
  get closedUntil(): number {
    return this.#firedUntil;
  }

  /** Open panes (for metrics). */
  get openPanes(): number {
    return this.#panes.size;
  }

  /**
   * Event-time progress at wall time `nowWall`: the smallest largest event time
   * over the partitions that are not idle (-Infinity before any event).
   */
  progress(nowWall: number): number {
    let min = Infinity;
    let max = -Infinity;
    for (const p of this.#partitions.values()) {
      max = Math.max(max, p.maxTs);
      if (nowWall - p.lastSeenWall < this.idleMs) min = Math.min(min, p.maxTs);
    }
    return min === Infinity ? max : min;
  }

  /** The global watermark at wall time `nowWall`: progress minus the out-of-orderness. */
  watermark(nowWall: number): number {
    const basis = this.progress(nowWall);
    return basis === -Infinity ? -Infinity : basis - this.outOfOrderMs;
  }

  /** Adds one event; returns false when it was late (dropped). */
  add(partition: number, entity: string, ts: number, value: X, nowWall: number): boolean {
    const p = this.#partitions.get(partition);
    if (p) {
      p.maxTs = Math.max(p.maxTs, ts);
      p.lastSeenWall = nowWall;
    } else {
      this.#partitions.set(partition, { maxTs: ts, lastSeenWall: nowWall });
    }
    const pane = Math.floor(ts / this.slideMs) * this.slideMs;
    // The last window holding this pane ends at pane + size.
    if (pane + this.sizeMs <= this.#firedUntil) {
      this.#late++;
      return false;
    }
    let entities = this.#panes.get(pane);
    if (!entities) this.#panes.set(pane, entities = new Map());
    const acc = entities.get(entity);
    if (acc === undefined) entities.set(entity, this.#agg.add(this.#agg.create(), value));
    else {
      const added = this.#agg.add(acc, value);
      if (added !== acc) entities.set(entity, added); // (an aggregator may return a new one)
    }
    if (this.#touched) {
      const panes = this.#touched.get(entity);
      if (panes) panes.add(pane);
      else this.#touched.set(entity, new Set([pane]));
    }
    return true;
  }

  /** The (entity, panes) that gained events since the last call (needs `trackTouched`). */
  takeTouched(): Map<string, Set<number>> {
    const touched = this.#touched ?? new Map();
    if (this.#touched) this.#touched = new Map();
    return touched;
  }

  /**
   * The windows not fired yet that hold pane `pane`, oldest first, with the
   * entity's aggregate over the panes received so far. For rules that only
   * grow with a window's events (a sum, a distinct count), what holds over
   * this part holds over the whole window, so they can fire before it closes;
   * other rules need a margin (rules.ts, `earlyMargin`).
   * `worthMerging` sees the pane aggregates first and can skip the merge.
   */
  openWindowsOf(
    entity: string,
    pane: number,
    worthMerging: (panes: A[]) => boolean = () => true,
  ): { start: number; end: number; acc: A }[] {
    const out: { start: number; end: number; acc: A }[] = [];
    // The entity's panes over every window holding `pane`, each looked up once.
    const span = this.sizeMs / this.slideMs;
    const first = pane - this.sizeMs + this.slideMs;
    const around: (A | undefined)[] = [];
    for (let k = 0; k < 2 * span - 1; k++) {
      around.push(this.#panes.get(first + k * this.slideMs)?.get(entity));
    }
    for (let w = 0; w < span; w++) {
      const start = first + w * this.slideMs;
      const end = start + this.sizeMs;
      if (end <= this.#firedUntil) continue;
      const panes: A[] = [];
      for (let k = w; k < w + span; k++) {
        const acc = around[k];
        if (acc !== undefined) panes.push(acc);
      }
      if (panes.length === 0 || !worthMerging(panes)) continue;
      let acc = this.#agg.create();
      for (const a of panes) acc = this.#agg.merge(acc, a);
      out.push({ start, end, acc });
    }
    return out;
  }

  /**
   * Fires every window the watermark has passed, oldest first, and drops panes no window needs.
   * Only entities whose panes are `worthMerging` are merged into a fired window (default: all):
   * a cheap bound that a rule could hold spares merging the thousands that cannot, which
   * otherwise held the event loop for a second at every slide.
   */
  advance(
    nowWall: number,
    worthMerging: (panes: A[]) => boolean = () => true,
  ): FiredWindow<A>[] {
    const wm = this.watermark(nowWall);
    if (wm === -Infinity) return [];
    const fired: FiredWindow<A>[] = [];
    let start = this.#firedUntil === -Infinity
      ? -Infinity
      : this.#firedUntil - this.sizeMs + this.slideMs;
    while (this.#panes.size > 0) {
      // Skip windows that hold no pane at all.
      const firstPane = Math.min(...this.#panes.keys());
      start = Math.max(start, firstPane - this.sizeMs + this.slideMs);
      const end = start + this.sizeMs;
      if (end + this.latenessMs > wm) break;
      const byEntity = new Map<string, A[]>();
      for (let pane = start; pane < end; pane += this.slideMs) {
        for (const [entity, acc] of this.#panes.get(pane) ?? []) {
          const panes = byEntity.get(entity);
          if (panes) panes.push(acc);
          else byEntity.set(entity, [acc]);
        }
      }
      const entities = new Map<string, A>();
      for (const [entity, panes] of byEntity) {
        if (!worthMerging(panes)) continue;
        let acc = this.#agg.create();
        for (const a of panes) acc = this.#agg.merge(acc, a);
        entities.set(entity, acc);
      }
      if (entities.size > 0) fired.push({ start, end, entities });
      this.#firedUntil = end;
      this.#panes.delete(start); // no later window holds this pane
      start += this.slideMs;
    }
    // Every window ending at or before the watermark has closed, empty ones included.
    const closed = Math.floor((wm - this.latenessMs) / this.slideMs) * this.slideMs;
    this.#firedUntil = Math.max(this.#firedUntil, closed);
    return fired;
  }
}

/**
 * When the watermark passed each window end, on the wall clock: the detector
 * calls `observe(watermark, now)` whenever its watermark may have moved (every
 * batch, every tick), and `passedAt(end)` tells the first wall time at which
 * the watermark reached `end + latenessMs` (a window ending at `end` could
 * fire from then on). Window ends are multiples of `slideMs`; a jump of the
 * watermark records every end it passed (at most `keep` of them: a first
 * event, or a jump over hours, records only the last ones). Only the `keep`
 * most recent ends are remembered.
 */
export class WatermarkClock {
  readonly #slideMs: number;
  readonly #latenessMs: number;
  readonly #keep: number;
  /** window end -> wall time at which the watermark passed it */
  readonly #passed = new Map<number, number>();
  /** The last window end recorded. */
  #until = -Infinity;

  constructor(slideMs: number, latenessMs = 0, keep = 256) {
    if (!(slideMs > 0)) throw new RangeError(`slide ${slideMs} must be positive`);
    this.#slideMs = slideMs;
    this.#latenessMs = latenessMs;
    this.#keep = Math.max(1, keep);
  }

  /**
   * Records the window ends the watermark `wm` passed at wall time `now`; returns true when
   * it passed at least one it had not passed before (windows may now fire).
   */
  observe(wm: number, now: number): boolean {
    if (!Number.isFinite(wm)) return false;
    const last = Math.floor((wm - this.#latenessMs) / this.#slideMs) * this.#slideMs;
    if (last <= this.#until) return false;
    const first = Math.max(this.#until + this.#slideMs, last - (this.#keep - 1) * this.#slideMs);
    for (let end = first; end <= last; end += this.#slideMs) this.#passed.set(end, now);
    this.#until = last;
    for (const end of this.#passed.keys()) {
      if (this.#passed.size <= this.#keep) break;
      this.#passed.delete(end); // oldest first (insertion order)
    }
    return true;
  }

  /** The wall time at which the watermark passed `end` (+ lateness), when recorded. */
  passedAt(end: number): number | undefined {
    return this.#passed.get(end);
  }
}
