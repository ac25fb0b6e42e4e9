/**
 * A permanent 'error' listener on every connection of a `@platformatic/kafka` client. Its
 * connection (2.12) can emit 'error' more than once for one failure: a socket reset while it
 * authenticates (SASL) emits "Connection error", which uses up the one-shot listeners (the
 * pool's and the connect callback's), then the failed SASL request emits "Connection to …
 * failed." again with no listener left, and node's EventEmitter throws it: an `Uncaught Error`
 * printed by every generator thread while a broker behind a proxy was down. The first emission
 * already failed the connect and every request on it; the later ones carry nothing new, so a
 * no-op listener only keeps them from being thrown.
 *
 * ```ts
 * const producer = new Producer({ clientId: "gen-w0", bootstrapBrokers: brokers });
 * quietConnectionErrors(producer);
 * ```
 * @module
 */

import type { EventEmitter } from "node:events";

/** The client lacks the connection pool this hooks into. */
export class QuietConnectionsError extends Error {
  override name = "QuietConnectionsError";
}

const ignore = () => {};

/**
 * Gives every connection `client` opens from now on (its pool's) a listener for 'error' that
 * ignores it. Throws `QuietConnectionsError` when the client has no pool where this version has
 * one (a changed client is refused, never left noisy in silence).
 */
export function quietConnectionErrors<T extends object>(client: T): T {
  const key = Object.getOwnPropertySymbols(client).find((s) =>
    s.description === "plt.kafka.base.connections"
  );
  const pool = key && (client as Record<symbol, unknown>)[key] as EventEmitter | undefined;
  if (!pool || typeof pool.on !== "function") {
    throw new QuietConnectionsError(
      `this @platformatic/kafka client (${client.constructor?.name}) has no connection pool to listen on`,
    );
  }
  pool.on("connecting", ({ connection }: { connection: EventEmitter }) => {
    connection.on("error", ignore);
  });
  return client;
}
