/**
 * Prometheus metrics of a component: a prom-client `Registry` and a tiny
 * `/metrics` server on 127.0.0.1.
 *
 * ```ts
 * import { serveMetrics } from "./metrics.ts";
 * import { Registry } from "prom-client";
 * const server = serveMetrics(new Registry(), 29050);
 * await server.shutdown();
 * ```
 * @module
 */

import type { Registry } from "prom-client";

/** Serves `registry` at http://127.0.0.1:<port>/metrics. Port 0 serves nothing. */
export function serveMetrics(
  registry: Registry,
  port: number,
): { port: number; shutdown(): Promise<void> } {
  if (port === 0) return { port: 0, shutdown: () => Promise.resolve() };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    async (request) => {
      if (new URL(request.url).pathname !== "/metrics") {
        return new Response("not found\n", { status: 404 });
      }
      return new Response(await registry.metrics(), {
        headers: { "content-type": registry.contentType },
      });
    },
  );
  return { port, shutdown: () => server.shutdown() };
}
