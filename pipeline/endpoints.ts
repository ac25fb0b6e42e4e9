/**
 * The endpoints of a running stack: what `deno task up --json` prints and what
 * every pipeline component and test connects to.
 *
 * ```json
 * {"kafka":{"bootstrap":"127.0.0.1:29111,127.0.0.1:29121,127.0.0.1:29131"},
 *  "s3":{"endpoint":"http://127.0.0.1:29010","accessKey":"...","secretKey":"...","bucket":"telemetry"},
 *  "redis":{"url":"redis://127.0.0.1:29020"},"toxiproxy":{"api":"http://127.0.0.1:29030"}}
 * ```
 * @module
 */

import type { SaslMechanism } from "./kafka_security.ts";

export interface Endpoints {
  /**
   * `sasl`: the user the stack's own clients connect as (the local stack's harness user), when the
   * cluster asks for SASL (pipeline/kafka_security.ts).
   */
  kafka: {
    bootstrap: string;
    /** `password`: an endpoints file (--stack external) may leave it to KAFKA_SASL_PASSWORD. */
    sasl?: { mechanism: SaslMechanism; username: string; password?: string };
  };
  s3: { endpoint: string; accessKey: string; secretKey: string; bucket: string };
  redis: { url: string };
  toxiproxy: { api: string };
}

/** Options for `new Minio.Client(...)` from the S3 endpoint. */
export function minioClientOptions(s3: Endpoints["s3"]) {
  const url = new URL(s3.endpoint);
  return {
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    useSSL: url.protocol === "https:",
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    region: "us-east-1",
  };
}
