/**
 * `deno task images`: builds the docker stack's images (Kafka, MinIO, Redis,
 * Toxiproxy, the network helper) from a debootstrap root file system, without
 * a registry; cached, rebuilt only when an input changes (see images.ts).
 * Installs Debian's docker.io, debootstrap and iptables when missing and starts
 * `dockerd` when no engine answers (or uses the engine `DOCKER_HOST` names).
 * @module
 */

import { ExitCode, runMain } from "../lib/exit_codes.ts";
import { parseFlags } from "../lib/cli.ts";
import { requireDocker } from "./docker.ts";
import { ensureImages } from "./images.ts";
import { ensureDockerEngine } from "./host_tools.ts";

const USAGE = `usage: deno task images

Starts the Docker engine when it is not running (installing Debian's docker.io
as root when it is missing) and builds the docker stack's images from a
debootstrap root file system, without a registry; cached by content.`;

if (import.meta.main) {
  await runMain(async () => {
    parseFlags(Deno.args, {}, USAGE);
    await ensureDockerEngine();
    const version = await requireDocker();
    console.log(`docker engine ${version}`);
    const images = await ensureImages();
    for (const [role, tag] of Object.entries(images)) console.log(`${role.padEnd(10)} ${tag}`);
    return ExitCode.Pass;
  });
}
