/**
 * Tools some tasks need beyond the stacks' binaries: a Docker engine (for the
 * docker stack and its tests), Chromium (the report test), Prometheus
 * (`--with-prometheus`) and libfaketime (the `clock` fault), installed from
 * Debian when missing.
 * @module
 */

import { join } from "node:path";
import { Progress } from "../lib/progress.ts";
import { dockerClient } from "./docker.ts";
import { aptInstall, ProvisionError, run, which } from "./host.ts";
import { cacheDir, exists } from "./paths.ts";
import { spawnDetached } from "./stack.ts";

/** Redirections that close descriptors 3-9 a detached daemon would inherit (a `flock`'s lock). */
export const DAEMON_CLOSED_FDS = [3, 4, 5, 6, 7, 8, 9].map((fd) => `${fd}>&-`).join(" ");

/**
 * A Docker engine for the docker stack, with debootstrap and iptables for its
 * images and faults: Debian's `docker.io`, `debootstrap` and `iptables` are
 * installed when missing, and `dockerd` is started (detached, logging to
 * `<cache>/dockerd.log`) when no engine answers. `DOCKER_HOST` set: that
 * engine is used as it is.
 */
export async function ensureDockerEngine(): Promise<void> {
  const really: string[] = [];
  for (
    const [cmd, pkg] of [["dockerd", "docker.io"], ["debootstrap", "debootstrap"], [
      "iptables",
      "iptables",
    ]]
  ) {
    if (!(await which(cmd)) && !(await exists(`/usr/sbin/${cmd}`))) really.push(pkg);
  }
  if (really.length > 0) await aptInstall(really, "the Docker engine (for --stack docker)");
  if (Deno.env.get("DOCKER_HOST")) return;
  const answers = async () => {
    try {
      await dockerClient().ping();
      return true;
    } catch {
      return false;
    }
  };
  if (await answers()) return;
  const progress = new Progress("dockerd");
  progress.update("starting the Docker engine");
  const log = join(cacheDir(), "dockerd.log");
  await Deno.mkdir(cacheDir(), { recursive: true });
  const dockerd = (await which("dockerd")) ?? "/usr/sbin/dockerd";
  // Inherited descriptors closed: under `flock <lock> deno ...` the engine would otherwise hold
  // the lock's descriptor (fd 3) for as long as it runs, and no other run could take the lock.
  spawnDetached(`exec "${dockerd}" >>"${log}" 2>&1 ${DAEMON_CLOSED_FDS}`);
  const until = Date.now() + 60_000;
  while (!(await answers())) {
    if (Date.now() > until) {
      throw new ProvisionError(`dockerd did not answer within 60 s; see ${log}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  progress.done(`started in ${progress.elapsedS().toFixed(1)} s (log: ${log})`);
}

/**
 * Debian's headless Chromium, for the test that looks at report.html in a real
 * browser (`CHAOS_CHROMIUM_BIN` overrides; installed with apt when missing).
 */
export async function ensureChromium(): Promise<string> {
  const explicit = Deno.env.get("CHAOS_CHROMIUM_BIN");
  if (explicit) return explicit;
  const found = await which("chromium") ?? await which("chromium-browser");
  if (found) return found;
  await aptInstall(["chromium"], "chromium (for the report screenshot test)");
  const installed = await which("chromium");
  if (!installed) throw new ProvisionError("chromium missing after install");
  return installed;
}

/**
 * Debian's Prometheus, for `--with-prometheus` (`CHAOS_PROMETHEUS_BIN` overrides;
 * installed with apt when missing; the system service the package starts is
 * disabled, since the harness runs its own per run).
 */
export async function ensurePrometheus(): Promise<string> {
  const explicit = Deno.env.get("CHAOS_PROMETHEUS_BIN");
  if (explicit) return explicit;
  const found = await which("prometheus");
  if (found) return found;
  await aptInstall(["prometheus"], "prometheus (for --with-prometheus)");
  await run("systemctl", ["disable", "--now", "prometheus"]);
  const installed = await which("prometheus");
  if (!installed) throw new ProvisionError("prometheus missing after install");
  return installed;
}

/**
 * Debian's promtool (shipped in the `prometheus` package), for the test that checks the
 * nightly's Prometheus text (`CHAOS_PROMTOOL_BIN` overrides; installed with apt when missing).
 */
export async function ensurePromtool(): Promise<string> {
  const explicit = Deno.env.get("CHAOS_PROMTOOL_BIN");
  if (explicit) return explicit;
  const found = await which("promtool");
  if (found) return found;
  await ensurePrometheus();
  const installed = await which("promtool");
  if (!installed) throw new ProvisionError("promtool missing after installing prometheus");
  return installed;
}

/**
 * Debian's libfaketime (package `libfaketime`, what `faketime` preloads), for the `clock` fault:
 * the path of `libfaketime.so.1` (`CHAOS_FAKETIME_LIB` overrides; installed with apt when
 * missing, so only a run that has a clock fault needs it).
 */
export async function ensureFaketime(): Promise<string> {
  const explicit = Deno.env.get("CHAOS_FAKETIME_LIB");
  if (explicit) return explicit;
  const found = await findFaketimeLib();
  if (found) return found;
  await aptInstall(["libfaketime"], "libfaketime (for the clock fault)");
  const installed = await findFaketimeLib();
  if (!installed) throw new ProvisionError("libfaketime.so.1 missing after install");
  return installed;
}

/** Where Debian puts libfaketime.so.1 (`/usr/lib/<multiarch>/faketime/`), if installed. */
export async function findFaketimeLib(): Promise<string | undefined> {
  const dirs = [...Deno.readDirSync("/usr/lib")].filter((e) => e.isDirectory).map((e) => e.name);
  for (const dir of ["", ...dirs]) {
    const candidate = join("/usr/lib", dir, "faketime", "libfaketime.so.1");
    if (await exists(candidate)) return candidate;
  }
  return undefined;
}
