/**
 * Test fixtures for `components()` and `contractEnv()`: a stack as far as they read it, the
 * options they take, and a scenario's detector settings.
 *
 * ```ts
 * import { componentOptions, DETECTOR_ONLY, fakeStack } from "./_component_fixtures.ts";
 * const env = contractEnv(DETECTOR_ONLY, componentOptions(fakeStack({ s3: root })));
 * ```
 * @module
 */

import type { Stack } from "../compose/stack.ts";
import type { WebhookReceiver } from "../pipeline/webhook_receiver.ts";
import { runNames } from "./run_names.ts";
import type { Scenario } from "./scenario.ts";

/** A stack's endpoints on base port 29000 (`endpoints` replaces any of them), with `more` fields. */
export function fakeStack(
  endpoints: Record<string, unknown> = {},
  more: Record<string, unknown> = {},
): Stack {
  return {
    ...more,
    endpoints: {
      kafka: { bootstrap: "127.0.0.1:29111" },
      s3: { endpoint: "http://127.0.0.1:29010", accessKey: "a", secretKey: "s", bucket: "b" },
      redis: { url: "redis://127.0.0.1:29020" },
      toxiproxy: { api: "http://127.0.0.1:29030" },
      ...endpoints,
    },
  } as unknown as Stack;
}

/** What `components()` and `contractEnv()` take besides the scenario, for `stack`. */
export function componentOptions(stack: Stack, webhook = "http://127.0.0.1:1/alerts") {
  return {
    stack,
    receiver: { url: webhook } as unknown as WebhookReceiver,
    secret: "hmac",
    runDir: "/tmp/x",
    names: runNames("local", "r1"),
  };
}

/** A scenario as far as the components read it: the detector's window. */
export const DETECTOR_ONLY = {
  detector: { window: "60s", slide: "10s", out_of_order: "5s" },
} as unknown as Scenario;
