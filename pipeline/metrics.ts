/**
 * Prometheus metrics of a component: a prom-client `Registry` (with the
 * standard process metrics) and a tiny `/metrics` server on 127.0.0.1.
 *
 * ```ts
 * import { serveMetrics } from "./metrics.ts";
 * import { Registry } from "prom-client";
 * const server = serveMetrics(new Registry(), 29050);
 * await server.shutdown();
 * ```
 * @module
 */

import { collectDefaultMetrics, type Registry } from "prom-client";

/**
 * Adds Prometheus' standard process metrics to `registry` (CPU seconds, resident
 * memory, open files, event loop lag, heap): once per process and registry.
 */
export function withProcessMetrics(registry: Registry): Registry {
  if (!registry.getSingleMetric("process_cpu_seconds_total")) {
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}

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
