/**
 * Provisioning of the real binaries the stacks run, into one cache folder
 * (see `paths.ts`). Idempotent: a component whose stamp file matches its pinned
 * version is not touched again, so a warm run costs a few `stat` calls.
 *
 * | component  | where it comes from                                             |
 * | ---------- | --------------------------------------------------------------- |
 * | kafka      | jars from Maven Central (`$CHAOS_MAVEN_REPO`), SHA-1 checked    |
 * | minio      | `go install github.com/minio/minio@<pinned>`                    |
 * | toxiproxy  | `go install github.com/Shopify/toxiproxy/v2/cmd/server@<pinned>`|
 * | redis      | Debian package `redis-server` (installed with apt when root)   |
 * | java       | a JRE 17+ on PATH (Debian `openjdk-17-jre-headless` when root)  |
 *
 * Any binary can be replaced by an existing one: `CHAOS_MINIO_BIN`,
 * `CHAOS_TOXIPROXY_BIN`, `CHAOS_REDIS_BIN`, `CHAOS_JAVA_BIN`.
 *
 * ```ts
 * import { provision } from "./provision.ts";
 * const bins = await provision();
 * console.log(bins.kafkaClasspath);
 * ```
 * @module
 */

import { join } from "node:path";
import { KAFKA_ARTIFACTS, KAFKA_VERSION } from "./_kafka_artifacts.ts";
import { cacheDir, exists } from "./paths.ts";
import { Progress, say } from "../lib/progress.ts";
import { aptInstall, ProvisionError, run, which } from "./host.ts";

export { KAFKA_VERSION };
const MINIO_MODULE = "github.com/minio/minio";
const MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c";
const TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server";
const TOXIPROXY_VERSION = "v2.5.0";

/** Paths of everything a stack needs to run. */
export interface Binaries {
  java: string;
  /** Class path for `java -cp`: the folder of Kafka's jars with a `*`. */
  kafkaClasspath: string;
  minio: string;
  toxiproxy: string;
  redis: string;
}

export interface ProvisionOptions {
  /** Cache folder. Default: `cacheDir()`. */
  dir?: string;
  /** Which components to provision. Default: all. */
  only?: ReadonlyArray<"java" | "kafka" | "minio" | "toxiproxy" | "redis">;
}

/** Provisions every component (or `only` some) and returns their paths. */
export async function provision(options: ProvisionOptions = {}): Promise<Binaries> {
  const dir = options.dir ?? cacheDir();
  await Deno.mkdir(dir, { recursive: true });
  const want = new Set(options.only ?? ["java", "kafka", "minio", "toxiproxy", "redis"]);
  const [java, kafkaClasspath, minio, toxiproxy, redis] = await Promise.all([
    want.has("java") ? ensureJava() : "",
    want.has("kafka") ? ensureKafka(dir) : "",
    want.has("minio")
      ? ensureGoBinary(dir, "minio", MINIO_MODULE, MINIO_VERSION, "minio", "CHAOS_MINIO_BIN")
      : "",
    want.has("toxiproxy")
      ? ensureGoBinary(
        dir,
        "toxiproxy",
        TOXIPROXY_MODULE,
        TOXIPROXY_VERSION,
        "server",
        "CHAOS_TOXIPROXY_BIN",
      )
      : "",
    want.has("redis") ? ensureRedis() : "",
  ]);
  return { java, kafkaClasspath, minio, toxiproxy, redis };
}

// ---------------------------------------------------------------- java

async function javaMajor(java: string): Promise<number | undefined> {
  const { code, out } = await run(java, ["-version"]);
  if (code !== 0) return undefined;
  const match = out.match(/version "(\d+)(?:\.(\d+))?/);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 ? Number(match[2]) : first;
}

async function ensureJava(): Promise<string> {
  const explicit = Deno.env.get("CHAOS_JAVA_BIN");
  const java = explicit ?? (await which("java"));
  if (java) {
    const major = await javaMajor(java);
    if (major !== undefined && major >= 17) return java;
    if (explicit) {
      throw new ProvisionError(`CHAOS_JAVA_BIN=${explicit} is not a Java 17+ runtime`);
    }
  }
  await aptInstall(["openjdk-17-jre-headless"], "A Java 17+ runtime (for Kafka)");
  const installed = await which("java");
  if (!installed) throw new ProvisionError("java is still not on PATH after installing it");
  return installed;
}

// ---------------------------------------------------------------- kafka

function mavenRepo(): string {
  return (Deno.env.get("CHAOS_MAVEN_REPO") ?? "https://repo1.maven.org/maven2").replace(/\/$/, "");
}

async function sha1Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      return new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
  throw new ProvisionError(`Cannot download ${url}`, { cause: lastError });
}

async function ensureKafka(dir: string): Promise<string> {
  const home = join(dir, `kafka-${KAFKA_VERSION}`);
  const libs = join(home, "libs");
  const stamp = join(home, ".complete");
  const expected = `${KAFKA_VERSION} ${KAFKA_ARTIFACTS.length}`;
  if ((await exists(stamp)) && (await Deno.readTextFile(stamp)) === expected) {
    return join(libs, "*");
  }
  await Deno.mkdir(libs, { recursive: true });
  const progress = new Progress(`kafka ${KAFKA_VERSION}`);
  const repo = mavenRepo();
  let done = 0;
  let bytes = 0;
  const queue = [...KAFKA_ARTIFACTS];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [group, artifact, version] = next;
      const file = `${artifact}-${version}.jar`;
      const target = join(libs, file);
      const url = `${repo}/${group.replaceAll(".", "/")}/${artifact}/${version}/${file}`;
      if (!(await exists(target))) {
        const [jar, sha] = await Promise.all([fetchBytes(url), fetchBytes(`${url}.sha1`)]);
        const want = new TextDecoder().decode(sha).trim().split(/\s+/)[0].toLowerCase();
        const got = await sha1Hex(jar);
        if (want !== got) {
          throw new ProvisionError(`Checksum mismatch for ${url}: expected ${want}, got ${got}`);
        }
        await Deno.writeFile(`${target}.part`, jar);
        await Deno.rename(`${target}.part`, target);
        bytes += jar.length;
      }
      done++;
      progress.update(
        `${done}/${KAFKA_ARTIFACTS.length} jars, ${(bytes / 1e6).toFixed(1)} MB downloaded`,
      );
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  await Deno.writeTextFile(stamp, expected);
  progress.done(
    `${KAFKA_ARTIFACTS.length} jars (${(bytes / 1e6).toFixed(1)} MB) from ${repo} in ${
      progress.elapsedS().toFixed(1)
    } s`,
  );
  return join(libs, "*");
}

// ---------------------------------------------------------------- go binaries

async function ensureGoBinary(
  dir: string,
  name: string,
  module: string,
  version: string,
  builtName: string,
  overrideEnv: string,
): Promise<string> {
  const explicit = Deno.env.get(overrideEnv);
  if (explicit) {
    if (!(await exists(explicit))) {
      throw new ProvisionError(`${overrideEnv}=${explicit} does not exist`);
    }
    return explicit;
  }
  const home = join(dir, `${name}-${version}`);
  const binary = join(home, name);
  if (await exists(binary)) return binary;
  const go = await which("go") ??
    ((await exists("/usr/local/go/bin/go")) ? "/usr/local/go/bin/go" : undefined);
  if (!go) {
    throw new ProvisionError(
      `${name} is not provisioned and Go is missing to build it: install Go 1.24+ ` +
        `(Debian: apt-get install golang-go) or point ${overrideEnv} at a ${name} binary`,
    );
  }
  await Deno.mkdir(home, { recursive: true });
  const progress = new Progress(`${name} ${version}`);
  progress.update(`go install ${module}@${version} (first time only; can take minutes)`);
  const ticker = setInterval(
    () => progress.update(`building with go install, ${progress.elapsedS().toFixed(0)} s`),
    1000,
  );
  try {
    const gobin = join(home, ".gobin");
    const result = await run(go, ["install", `${module}@${version}`], {
      env: { GOBIN: gobin, GOFLAGS: "-buildvcs=false", CGO_ENABLED: "0" },
    });
    if (result.code !== 0) {
      throw new ProvisionError(
        `go install ${module}@${version} failed (exit ${result.code}): ${
          result.out.trim().split("\n").slice(-5).join(" | ")
        }`,
      );
    }
    await Deno.rename(join(gobin, builtName), binary);
    await Deno.remove(gobin, { recursive: true });
  } finally {
    clearInterval(ticker);
  }
  progress.done(`built in ${progress.elapsedS().toFixed(1)} s`);
  return binary;
}

// ---------------------------------------------------------------- redis

async function ensureRedis(): Promise<string> {
  const explicit = Deno.env.get("CHAOS_REDIS_BIN");
  if (explicit) return explicit;
  const found = await which("redis-server") ??
    ((await exists("/usr/bin/redis-server")) ? "/usr/bin/redis-server" : undefined);
  if (found) return found;
  await aptInstall(["redis-server"], "redis-server");
  // The Debian package starts a system Redis on 6379; the harness runs its own.
  await run("systemctl", ["disable", "--now", "redis-server"]);
  const installed = await which("redis-server") ?? "/usr/bin/redis-server";
  if (!(await exists(installed))) throw new ProvisionError("redis-server missing after install");
  return installed;
}

/** Prints what was provisioned (used by `deno task provision`). */
export function describe(bins: Binaries): void {
  say(`java       ${bins.java}`);
  say(`kafka      ${KAFKA_VERSION} (${bins.kafkaClasspath})`);
  say(`minio      ${MINIO_VERSION} (${bins.minio})`);
  say(`toxiproxy  ${TOXIPROXY_VERSION} (${bins.toxiproxy})`);
  say(`redis      ${bins.redis}`);
}
