/**
 * The active KRaft controller, as Kafka's own `kafka-metadata-quorum` tool
 * (`MetadataQuorumCommand describe --status`) reports it. Clients cannot ask
 * the metadata for it: in KRaft, the `controller` of a Metadata response
 * (kafkajs's `describeCluster()`) is a random live broker (KIP-590), not the
 * quorum's leader.
 *
 * ```ts
 * import { activeController } from "./quorum.ts";
 * import { provision } from "./provision.ts";
 * const id = await activeController(await provision(), "127.0.0.1:29111");
 * ```
 * @module
 */

import type { Binaries } from "./provision.ts";
import { kafkaToolProperties, securityFor } from "../pipeline/kafka_security.ts";

/** Parses `LeaderId: <n>` out of the tool's `describe --status` output. */
export function parseQuorumLeader(text: string): number | undefined {
  const m = text.match(/^LeaderId:\s+(\d+)\s*$/m);
  return m ? Number(m[1]) : undefined;
}

/** The node id of the quorum's leader (the active controller). */
export async function activeController(binaries: Binaries, bootstrap: string): Promise<number> {
  // A cluster that asks for SASL or TLS (kafka_security.ts): the tool's client properties.
  const properties = kafkaToolProperties(securityFor(bootstrap));
  const config = properties ? await Deno.makeTempFile({ suffix: ".properties" }) : undefined;
  if (config) await Deno.writeTextFile(config, properties!, { mode: 0o600 });
  const out = await new Deno.Command(binaries.java, {
    args: [
      "-Xmx128m",
      "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
      "-cp",
      binaries.kafkaClasspath,
      "org.apache.kafka.tools.MetadataQuorumCommand",
      "--bootstrap-server",
      bootstrap,
      ...(config ? ["--command-config", config] : []),
      "describe",
      "--status",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => config && Deno.remove(config).catch(() => {}));
  const text = new TextDecoder().decode(out.stdout);
  const leader = parseQuorumLeader(text);
  if (out.code !== 0 || leader === undefined) {
    const said = (text + new TextDecoder().decode(out.stderr)).trim().split("\n").slice(-4);
    throw new Error(
      `kafka-metadata-quorum describe --status (exit ${out.code}) named no leader: ${
        said.join(" / ")
      }`,
    );
  }
  return leader;
}
