/**
 * The run's history, Jepsen style: every operation and fault as one JSON line
 * `{time, type: invoke|ok|fail|info, what, value}` in `history.jsonl`.
 *
 * ```ts
 * const h = new History("/tmp/run/history.jsonl");
 * h.record("invoke", "fault:kill", { target: "broker:2" });
 * ```
 * @module
 */

export type OpType = "invoke" | "ok" | "fail" | "info";

export interface HistoryEvent {
  time: number;
  type: OpType;
  what: string;
  value?: unknown;
}

export class History {
  readonly path: string;
  readonly events: HistoryEvent[] = [];

  constructor(path: string) {
    this.path = path;
    Deno.writeTextFileSync(path, "");
  }

  record(type: OpType, what: string, value?: unknown): HistoryEvent {
    const event: HistoryEvent = {
      time: Date.now(),
      type,
      what,
      ...(value === undefined ? {} : { value }),
    };
    this.events.push(event);
    Deno.writeTextFileSync(this.path, JSON.stringify(event) + "\n", { append: true });
    return event;
  }
}
