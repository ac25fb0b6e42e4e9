/**
 * Container images for the docker stack, built without a registry: a Debian
 * root file system made by debootstrap becomes the base image (`docker
 * import`), and small Dockerfiles add what each service needs (the
 * provisioned Kafka jars, the MinIO and Toxiproxy binaries). A user with
 * registry access can use the official images instead (see
 * `docker-compose.yml` and the `CHAOS_IMAGE_*` variables).
 *
 * Every image is tagged with a hash of its inputs (the package list, the
 * Dockerfile, the names, sizes and times of the files it copies), so it is
 * built once and rebuilt only when an input changes. The debootstrap tarball
 * is kept in the cache, so a wiped Docker engine re-imports it in seconds.
 *
 * ```ts
 * import { ensureImages } from "./images.ts";
 * const images = await ensureImages();
 * console.log(images.kafka); // chaos-harness/kafka:3f2a…
 * ```
 * @module
 */

import { join } from "node:path";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { EnvironmentError } from "../lib/exit_codes.ts";
import { dockerClient, streamToEnd } from "./docker.ts";
import { cacheDir, exists } from "./paths.ts";
import { Progress } from "../lib/progress.ts";
import { which } from "./host.ts";
import { type Binaries, provision } from "./provision.ts";

const DEBIAN_SUITE = "bookworm";
const DEBIAN_MIRROR = Deno.env.get("CHAOS_DEBIAN_MIRROR") ?? "http://deb.debian.org/debian";
/** What every service image has: a JRE for Kafka, redis-server, and the network tools. */
const BASE_PACKAGES = [
  "openjdk-17-jre-headless",
  "redis-server",
  "iproute2",
  "iptables",
  "procps",
  "ca-certificates",
];

export interface Images {
  base: string;
  kafka: string;
  minio: string;
  redis: string;
  toxiproxy: string;
  /** iproute2 and iptables, run in a target's network namespace for tc and iptables faults. */
  nethelper: string;
}

export class ImageError extends EnvironmentError {
  override name = "ImageError";
}

const hash = (...parts: string[]) =>
  createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 12);

async function imageExists(tag: string): Promise<boolean> {
  try {
    await dockerClient().getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

/** A file's identity for the image hash: name, size, modification time. */
async function stamp(path: string): Promise<string> {
  const info = await Deno.stat(path);
  return `${path}:${info.size}:${info.mtime?.getTime() ?? 0}`;
}

/** Runs a command, failing with its last lines of output. */
async function run(cmd: string, args: string[], what: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  if (out.code !== 0) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new ImageError(
      `${what} failed (exit ${out.code}): ${text.trim().split("\n").slice(-8).join(" | ")}`,
    );
  }
}

/** The base image: debootstrap's root file system, imported. */
async function ensureBase(progress: Progress): Promise<string> {
  const tag = `chaos-harness/base:${hash(DEBIAN_SUITE, ...BASE_PACKAGES)}`;
  if (await imageExists(tag)) return tag;
  const dir = join(cacheDir(), "images");
  await Deno.mkdir(dir, { recursive: true });
  const tarball = join(dir, `${tag.replace(/[/:]/g, "-")}.tar`);
  if (!(await exists(tarball))) {
    if (!(await which("debootstrap"))) {
      throw new ImageError(
        "debootstrap is not installed (apt-get install debootstrap); it makes the base image",
      );
    }
    const root = join(dir, "rootfs.tmp");
    await Deno.remove(root, { recursive: true }).catch(() => {});
    progress.update(`debootstrap ${DEBIAN_SUITE} with ${BASE_PACKAGES.length} packages (~2 min)`);
    await run("debootstrap", [
      "--variant=minbase",
      `--include=${BASE_PACKAGES.join(",")}`,
      DEBIAN_SUITE,
      root,
      DEBIAN_MIRROR,
    ], "debootstrap");
    // Package caches and lists are dead weight in an image.
    await run("sh", [
      "-c",
      `rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/lib/apt/lists/*`,
    ], "trimming the root file system");
    progress.update("packing the root file system");
    await run("tar", ["-C", root, "-cf", `${tarball}.tmp`, "."], "tar");
    await Deno.rename(`${tarball}.tmp`, tarball);
    await Deno.remove(root, { recursive: true });
  }
  progress.update(`importing ${tag}`);
  const [repo, version] = tag.split(":");
  const stream = await dockerClient().importImage(createReadStream(tarball), {
    repo,
    tag: version,
  });
  await streamToEnd(stream);
  if (!(await imageExists(tag))) throw new ImageError(`docker import did not create ${tag}`);
  return tag;
}

/** Builds `tag` from a Dockerfile and a context folder, unless it exists. */
async function build(
  tag: string,
  context: string,
  dockerfile: string,
  progress: Progress,
): Promise<string> {
  if (await imageExists(tag)) return tag;
  progress.update(`building ${tag}`);
  await Deno.writeTextFile(join(context, "Dockerfile"), dockerfile);
  const tar = new Deno.Command("tar", {
    args: ["-C", context, "-ch", "."],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stream = await dockerClient().buildImage(
    Readable.fromWeb(tar.stdout as unknown as WebReadableStream),
    { t: tag, rm: true, forcerm: true },
  );
  const messages = await streamToEnd(stream);
  await tar.status;
  const failed = messages.find((m) => m.error);
  if (failed || !(await imageExists(tag))) {
    throw new ImageError(`building ${tag} failed: ${failed?.error ?? "no image"}`);
  }
  return tag;
}

/** A fresh build-context folder in the cache. */
async function context(name: string): Promise<string> {
  const dir = join(cacheDir(), "images", `ctx-${name}`);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/** Hard-links (or copies, across file systems) `from` to `to`. */
async function place(from: string, to: string): Promise<void> {
  try {
    await Deno.link(from, to);
  } catch {
    await Deno.copyFile(from, to);
  }
}

/**
 * The images of the docker stack, built when missing. `CHAOS_IMAGE_KAFKA`,
 * `CHAOS_IMAGE_MINIO`, ... name an image to use instead (it must offer the
 * same commands: see docker_stack.ts).
 */
export async function ensureImages(binaries?: Binaries): Promise<Images> {
  const progress = new Progress("images", { everyMs: 5000 });
  const bins = binaries ?? await provision();
  const base = await ensureBase(progress);
  const override = (name: string) => Deno.env.get(`CHAOS_IMAGE_${name.toUpperCase()}`);

  const libs = bins.kafkaClasspath.replace(/\/\*$/, "");
  const jars = [...Deno.readDirSync(libs)].map((e) => e.name).filter((n) => n.endsWith(".jar"))
    .sort();
  const kafkaFile = `FROM ${base}\nCOPY libs/ /opt/kafka/libs/\nWORKDIR /opt/kafka\n`;
  const kafkaTag = `chaos-harness/kafka:${
    hash(kafkaFile, ...(await Promise.all(jars.map((j) => stamp(join(libs, j))))))
  }`;
  let kafka = override("kafka") ?? kafkaTag;
  if (!override("kafka") && !(await imageExists(kafkaTag))) {
    const ctx = await context("kafka");
    await Deno.mkdir(join(ctx, "libs"));
    for (const jar of jars) await place(join(libs, jar), join(ctx, "libs", jar));
    kafka = await build(kafkaTag, ctx, kafkaFile, progress);
  }

  const binaryImage = async (name: string, binary: string): Promise<string> => {
    if (override(name)) return override(name)!;
    const file = `FROM ${base}\nCOPY ${name} /usr/local/bin/${name}\n`;
    const tag = `chaos-harness/${name}:${hash(file, await stamp(binary))}`;
    if (await imageExists(tag)) return tag;
    const ctx = await context(name);
    await place(binary, join(ctx, name));
    return await build(tag, ctx, file, progress);
  };
  const minio = await binaryImage("minio", bins.minio);
  const toxiproxy = await binaryImage("toxiproxy", bins.toxiproxy);

  const plainImage = async (name: string): Promise<string> => {
    if (override(name)) return override(name)!;
    const file = `FROM ${base}\nLABEL org.chaos-harness.role=${name}\n`;
    const tag = `chaos-harness/${name}:${hash(file)}`;
    return await build(tag, await context(name), file, progress);
  };
  const redis = await plainImage("redis");
  const nethelper = await plainImage("nethelper");
  for (const name of ["kafka", "minio", "toxiproxy", "redis", "nethelper"]) {
    await Deno.remove(join(cacheDir(), "images", `ctx-${name}`), { recursive: true }).catch(
      () => {},
    );
  }
  progress.done(`images ready in ${progress.elapsedS().toFixed(1)} s`);
  return { base, kafka, minio, redis, toxiproxy, nethelper };
}
