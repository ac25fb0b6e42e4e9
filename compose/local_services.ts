/**
 * The processes of the local stack: what each service runs (Toxiproxy with
 * the stack's proxies, Redis with an append-only file, MinIO, the brokers on
 * their server.properties), the watchdog that kills them when the harness
 * dies, and the warning about ports in the kernel's ephemeral range.
 * @module
 */

import { join } from "node:path";
import type { Endpoints } from "../pipeline/endpoints.ts";
import { brokerProperties, kafkaJvmArgs, type KafkaSettings } from "./kafka_config.ts";
import { allPorts, type PortPlan } from "./ports.ts";
import type { ProcessSpec } from "./process_node.ts";
import type { Binaries } from "./provision.ts";
import { UNMOUNT_SCRIPT } from "./disk.ts";
import { RESTORE_BACKINGS_SCRIPT } from "./lazy_disks.ts";
import { boxNetCleanScript } from "./box_net.ts";
import { type RedisUsers, writeRedisAclFile } from "./redis_acl.ts";
import {
  brokerNode,
  REDIS_BOUNDS,
  REDIS_DURABILITY,
  REDIS_MEMORY,
  spawnDetached,
  toxiproxyConfig,
} from "./stack.ts";
import { faketimeEnv, faketimeFile, REAL_CLOCK, writeFaketime } from "./faketime.ts";
import { mountStoreDisk, noteStoreDisk } from "./store_disk.ts";
import { mountRedisDisk, noteRedisDisk } from "./redis_disk.ts";

/** Nodes started under libfaketime `lib` (the `clock` fault's targets: faketime.ts). */
export interface FaketimeNodes {
  lib: string;
  nodes: readonly string[];
}

/** The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), or undefined unread. */
export function ephemeralRange(
  file = "/proc/sys/net/ipv4/ip_local_port_range",
): [number, number] | undefined {
  try {
    const [lo, hi] = Deno.readTextFileSync(file).trim().split(/\s+/).map(Number);
    return Number.isInteger(lo) && Number.isInteger(hi) ? [lo, hi] : undefined;
  } catch {
    return undefined;
  }
}

/** The ports of `ports` inside `range` (the ephemeral range), in order. Pure. */
export function portsInRange(ports: readonly number[], range: readonly [number, number]): number[] {
  return ports.filter((p) => p >= range[0] && p <= range[1]).sort((a, b) => a - b);
}

/**
 * Warns when the stack's ports fall in the kernel's ephemeral port range: an
 * outgoing connection (Toxiproxy to a broker, a client) may take such a port
 * just before a broker binds it, and the broker then fails with "Address
 * already in use". The defaults (29000 and up to 31600) stay below it. (`grade`
 * refuses such a stack: a sandboxed pipeline could take a port on purpose.)
 */
export function warnIfEphemeral(plan: PortPlan): void {
  const range = ephemeralRange();
  if (!range) return;
  const inside = portsInRange(allPorts(plan), range);
  if (inside.length > 0) {
    console.error(
      `warning: ports ${inside[0]}..${inside[inside.length - 1]} are in the ephemeral range ` +
        `${range[0]}-${
          range[1]
        }; start-up may fail with "Address already in use" (pick a --base-port below ${
          range[0] - 200
        })`,
    );
  }
}

/**
 * Starts a shell that waits for this process to die, then SIGKILLs every node
 * whose pid file is in `<dataDir>/pids` and whose start time still matches (so
 * a recycled pid is never hit), and every process of a node's cgroup (a
 * component's, named in its pid file: compose/process_node.ts; only a run's
 * `chaos-<run>/<node>`), which it then removes; then it unmounts the stack's
 * bounded and lazy disks (disk.ts, lazy_disks.ts) and removes its owner's box
 * networks (box_net.ts). `down` kills it when the harness ends normally.
 */
export function startWatchdog(dataDir: string): number {
  const script = `
owner=$1; dir=$2; cgs=
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
for f in "$dir"/pids/*.pid; do
  [ -f "$f" ] || continue
  read -r pid start cg < "$f"
  now=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f20)
  if [ -n "$now" ] && [ "$now" = "$start" ]; then
    kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null
  fi
  case "$cg" in *..*) cg= ;; /sys/fs/cgroup/chaos-*/*|/sys/fs/cgroup/*/chaos-*/*) ;; *) cg= ;; esac
  if [ -n "$cg" ] && [ -d "$cg" ]; then
    [ -f "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill" 2>/dev/null
    [ -f "$cg/freezer.state" ] && echo FROZEN >"$cg/freezer.state" 2>/dev/null
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    [ -f "$cg/freezer.state" ] && echo THAWED >"$cg/freezer.state" 2>/dev/null
    cgs="$cgs $cg"
  fi
done
# A stack frozen whole (the freeze fault) sits in one freezer cgroup named after the owner:
# its processes die of the SIGKILLs above only once thawed.
for fz in /sys/fs/cgroup/freezer/chaos-harness/freeze-"$owner"-* /sys/fs/cgroup/chaos-harness/freeze-"$owner"-*; do
  [ -d "$fz" ] || continue
  [ -f "$fz/freezer.state" ] && echo THAWED >"$fz/freezer.state" 2>/dev/null
  [ -f "$fz/cgroup.freeze" ] && echo 0 >"$fz/cgroup.freeze" 2>/dev/null
  for p in $(cat "$fz/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  cgs="$cgs $fz"
done
sleep 1
for cg in $cgs; do rmdir "$cg" 2>/dev/null; rmdir "\${cg%/*}" 2>/dev/null; done
${UNMOUNT_SCRIPT}${RESTORE_BACKINGS_SCRIPT}${boxNetCleanScript}`;
  return spawnDetached(script, ["chaos-watchdog", String(Deno.pid), dataDir]);
}

/** The specs of the stack's processes, writing their config files into `dataDir`. */
export async function nodeSpecs(
  plan: PortPlan,
  dataDir: string,
  endpoints: Endpoints,
  binaries: Binaries,
  options: {
    heapMb?: number;
    kafka?: KafkaSettings;
    direct?: boolean;
    faketime?: FaketimeNodes;
    /** SCRAM on the CLIENT listener and the authorizer, this user a super user (kafka_config.ts). */
    scram?: { superUser: string };
    /** Redis's users (redis_acl.ts): an ACL file of the stack's; none: no auth. */
    redisUsers?: RedisUsers;
    /** MinIO's data is on a lazy disk (lazy_disks.ts): no store disk of its own then. */
    lazyDisks?: boolean;
    /** MinIO's store disk in MiB (store_disk.ts); default 0: none (a graded run asks for one). */
    storeDiskMb?: number;
    /** Redis's disk in MiB (redis_disk.ts); 0: none, noted. Default: none (a graded run asks). */
    redisDiskMb?: number;
  },
): Promise<ProcessSpec[]> {
  const spec = (name: string, cmd: string, args: string[], env?: Record<string, string>) => ({
    name,
    cmd,
    args,
    env,
    cwd: dataDir,
    logFile: join(dataDir, "logs", `${name}.log`),
    pidFile: join(dataDir, "pids", `${name}.pid`),
  });
  const specs: ProcessSpec[] = [];

  const proxies = toxiproxyConfig(plan, "127.0.0.1", () => "127.0.0.1");
  const toxiproxyFile = join(dataDir, "toxiproxy.json");
  await Deno.writeTextFile(toxiproxyFile, JSON.stringify(proxies, null, 2));
  specs.push(spec("toxiproxy", binaries.toxiproxy, [
    "-host",
    "127.0.0.1",
    "-port",
    String(plan.toxiproxy),
    "-config",
    toxiproxyFile,
  ]));

  const redisDir = join(dataDir, "redis");
  await Deno.mkdir(redisDir, { recursive: true });
  // A pipeline that overwrites big values in a loop grows the append-only file without end: it
  // fills Redis's own disk, not the host's (redis_disk.ts). Asked for: noted when there is none.
  if (options.redisDiskMb !== undefined) {
    noteRedisDisk(mountRedisDisk(redisDir, options.redisDiskMb));
  }
  // Its users in a file of the stack's (0600), out of the command line and the data dir.
  const redisAcl = join(dataDir, "redis.acl");
  if (options.redisUsers) await writeRedisAclFile(redisAcl, options.redisUsers);
  specs.push(spec("redis", binaries.redis, [
    ...(options.redisUsers ? ["--aclfile", redisAcl] : []),
    ...REDIS_MEMORY,
    "--port",
    String(plan.redis),
    "--bind",
    "127.0.0.1",
    "--dir",
    redisDir,
    ...REDIS_DURABILITY,
    ...REDIS_BOUNDS,
    "--daemonize",
    "no",
  ]));

  const minioDir = join(dataDir, "minio");
  await Deno.mkdir(minioDir, { recursive: true });
  // A pipeline that PUTs without end fills the store's own disk, not the host's (store_disk.ts);
  // a bounded disk of disk_full's is one already, a lazy one is mounted later in its place.
  noteStoreDisk(
    options.lazyDisks
      ? { problem: "MinIO's data is on a lazy disk (storage faults)" }
      : mountStoreDisk(minioDir, options.storeDiskMb ?? 0),
  );
  specs.push(spec(
    "minio",
    binaries.minio,
    [
      "server",
      minioDir,
      "--address",
      `127.0.0.1:${plan.minio}`,
      "--console-address",
      `127.0.0.1:${plan.minioConsole}`,
      "--quiet",
    ],
    {
      MINIO_ROOT_USER: endpoints.s3.accessKey,
      MINIO_ROOT_PASSWORD: endpoints.s3.secretKey,
      MINIO_BROWSER: "off",
      MINIO_UPDATE: "off",
      MINIO_CALLHOME_ENABLE: "off",
    },
  ));

  const heap = options.heapMb ?? 1024;
  for (const b of plan.brokers) {
    const dir = join(dataDir, brokerNode(b.id));
    await Deno.mkdir(dir, { recursive: true });
    const props = join(dir, "server.properties");
    await Deno.writeTextFile(
      props,
      brokerProperties(plan, b.id, {
        ...options.kafka,
        logDir: join(dir, "log"),
        direct: options.direct,
        scram: options.scram,
      }),
    );
    specs.push(
      spec(brokerNode(b.id), binaries.java, kafkaJvmArgs(heap, binaries.kafkaClasspath, props)),
    );
  }
  // The clock fault's targets start under libfaketime, on the real clock until it fires.
  for (const s of specs.filter((s) => options.faketime?.nodes.includes(s.name))) {
    const file = faketimeFile(dataDir, s.name);
    await writeFaketime(file, REAL_CLOCK);
    s.env = { ...s.env, ...faketimeEnv(options.faketime!.lib, file) };
  }
  return specs;
}
