/**
 * `elect_unclean`: asks the controller for an unclean leader election on every
 * partition without a leader, with Kafka's own `LeaderElectionCommand`
 * (`kafka-leader-election.sh --election-type unclean`). Since Kafka 4.1 (ELR
 * on), a controller with `unclean.leader.election.enable=true` only elects an
 * out-of-sync replica on its own every few minutes; this forces it now. It is
 * one-shot: there is nothing to heal. Observed: the partitions that got a new
 * leader this way.
 *
 * Only meaningful on purpose-built unsafe set-ups (negative controls).
 * @module
 */

import type { Fault } from "./types.ts";

export const electUnclean: Fault = {
  kind: "elect_unclean",
  targets: ["broker"],
  async inject(ctx) {
    const bootstrap = ctx.stack.endpoints.kafka.bootstrap;
    const out = await new Deno.Command(ctx.binaries.java, {
      args: [
        "-cp",
        ctx.binaries.kafkaClasspath,
        "org.apache.kafka.tools.LeaderElectionCommand",
        "--bootstrap-server",
        bootstrap,
        "--election-type",
        "unclean",
        "--all-topic-partitions",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const elected = [...text.matchAll(/completed leader election \(UNCLEAN\) for partitions (.+)/g)]
      .flatMap((m) => m[1].split(",").map((p) => p.trim()).filter(Boolean));
    if (elected.length === 0) {
      // "Valid replica already elected" and friends: the command ran, nothing was unclean-elected.
      const why = text.split("\n").filter((l) => l.trim() && !l.includes("SLF4J")).slice(0, 5);
      throw new Error(`no unclean election happened (exit ${out.code}): ${why.join(" / ")}`);
    }
    return { observed: { elected }, heal: () => Promise.resolve({}) };
  },
};
