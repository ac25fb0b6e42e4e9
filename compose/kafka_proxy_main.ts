/**
 * The kafka proxy's process (kafka_proxy.ts), one for every broker of a local
 * stack, started as the stack's node `kafkaproxy` (kafka_proxy_control.ts):
 *
 * ```sh
 * deno run --allow-net compose/kafka_proxy_main.ts --control 29106 \
 *   --route 1:29116:29111 --route 1:29117:29111:sink --route 2:29126:29121
 * ```
 *
 * Each `--route broker:listen:upstream[:listener]` is one broker's: clients
 * connect to `listen`, the proxy forwards to `upstream` (the broker's
 * Toxiproxy client port); `listener` names whose port it is (`harness`, the
 * default, or a component: `sink`, `detector`, `generator`). It listens on
 * `--host` (default 127.0.0.1) and forwards to `--upstream-host` (default the
 * same; on the docker stack, Toxiproxy's container or the remote engine's
 * host). It stops on SIGTERM or SIGINT; bad arguments exit 2.
 * @module
 */

import { parseArgs } from "node:util";
import { KafkaProxy, type Route } from "./kafka_proxy.ts";
import { PROXY_LISTENERS, type ProxyListener } from "./kafka_proxy_mode.ts";

/** The routes of `--route broker:listen:upstream[:listener]` arguments; throws on a malformed one. */
export function parseRoutes(values: readonly string[]): Route[] {
  return values.map((v) => {
    const m = v.match(/^(\d+):(\d+):(\d+)(?::([a-z]+))?$/);
    if (!m || (m[4] !== undefined && !PROXY_LISTENERS.includes(m[4] as ProxyListener))) {
      throw new TypeError(
        `--route must be broker:listen:upstream[:${PROXY_LISTENERS.join("|")}], got "${v}"`,
      );
    }
    return {
      broker: Number(m[1]),
      listen: Number(m[2]),
      upstream: Number(m[3]),
      listener: (m[4] ?? "harness") as ProxyListener,
    };
  });
}

if (import.meta.main) {
  let routes: Route[];
  let control: number;
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        control: { type: "string" },
        route: { type: "string", multiple: true, default: [] },
        host: { type: "string", default: "127.0.0.1" },
        "upstream-host": { type: "string" },
      },
    });
    routes = parseRoutes(values.route);
    control = Number(values.control);
    if (!Number.isInteger(control) || control <= 0) {
      throw new TypeError(`--control must be a port, got "${values.control}"`);
    }
    if (!routes.length) throw new TypeError("at least one --route is needed");
    const upstreamHost = values["upstream-host"];
    if (upstreamHost !== undefined && !/^[A-Za-z0-9.:-]+$/.test(upstreamHost)) {
      throw new TypeError(`--upstream-host must be a host name or address, got "${upstreamHost}"`);
    }
    const proxy = new KafkaProxy(routes, { host: values.host, upstreamHost });
    proxy.serve(control);
    console.log(
      `kafka proxy: control ${control}; ${
        routes.map((r) =>
          `broker ${r.broker} ${r.listener} ${r.listen} -> ${proxy.upstreamHost}:${r.upstream}`
        )
          .join(", ")
      }`,
    );
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => {
        console.log(`kafka proxy: ${signal}, stopping`);
        Deno.exit(0);
      });
    }
  } catch (error) {
    console.error(`kafka proxy: ${(error as Error).message}`);
    Deno.exit(2);
  }
}
