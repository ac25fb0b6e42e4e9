/**
 * Keeps a kafkajs consumer running after the crashes kafkajs gives up on.
 *
 * kafkajs restarts a crashed consumer only when the error is retriable. A
 * broker whose log dir fails answers a fetch with UNKNOWN_SERVER_ERROR, which
 * is not: the consumer then stops for good, says so once in its log, and the
 * process goes on looking healthy while nothing is consumed (measured: one
 * run in five of broker-log-dir-fails, the sink stuck at the fault's offset
 * until the end). After such a crash kafkajs has stopped and disconnected the
 * consumer; `keepRunning` connects it and runs it again with the same
 * handlers, after `delayMs` and again on every failure, until `stopping()`.
 *
 * ```ts
 * keepRunning(consumer, () => consumer.run(config), {
 *   stopping: () => this.#stopping,
 *   log: (line) => console.error(`sink: ${line}`),
 * });
 * ```
 * @module
 */

/** What `keepRunning` uses of a kafkajs consumer (its type, narrowed). */
export interface RestartableConsumer {
  events: { CRASH: string };
  // deno-lint-ignore no-explicit-any
  on(event: any, listener: (e: { payload: { error: Error; restart: boolean } }) => void): unknown;
  connect(): Promise<void>;
}

export interface KeepRunningOptions {
  /** True once the owner is stopping: no restart then. */
  stopping(): boolean;
  /** One line per restart and per failed attempt. */
  log(line: string): void;
  /** Called before each restart (drop what the crashed run left open). */
  beforeRestart?(): void;
  /** Wait before each attempt (default 1000 ms). */
  delayMs?: number;
}

/** Restarts `consumer` with `run` after every crash kafkajs does not restart from. */
export function keepRunning(
  consumer: RestartableConsumer,
  run: () => Promise<void>,
  options: KeepRunningOptions,
): void {
  const delay = options.delayMs ?? 1000;
  let restarting = false;
  const attempt = async (n: number, cause: Error): Promise<void> => {
    if (options.stopping()) {
      restarting = false;
      return;
    }
    options.log(
      n === 1
        ? `the consumer stopped on ${cause.name}: ${cause.message}, which kafkajs does not ` +
          `restart from: starting it again`
        : `starting the consumer again failed (${cause.message}): attempt ${n}`,
    );
    try {
      options.beforeRestart?.();
      await consumer.connect();
    } catch (error) {
      setTimeout(() => attempt(n + 1, asError(error)), delay);
      return;
    }
    // Running again: a crash from here on (also one inside this `run`) starts a new round.
    restarting = false;
    run().catch((error) => crashed(asError(error)));
  };
  const crashed = (cause: Error) => {
    if (restarting || options.stopping()) return;
    restarting = true;
    setTimeout(() => attempt(1, cause), delay);
  };
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) crashed(asError(payload.error));
  });
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
