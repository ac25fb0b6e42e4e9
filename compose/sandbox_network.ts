/**
 * What a sandbox's box may reach (compose/sandbox.ts): a policy (`setup`: the world but this
 * host and the private ranges; `pipeline`: the contract's endpoints; `none`), written as an
 * iptables (and ip6tables) chain of the box's own that the host's OUTPUT jumps to for the box's
 * uid (`-m owner --uid-owner`), which also bounds the TCP connections the box holds open at once
 * (`connlimit`; sandbox_bounds.ts's `connections`) and the connections and flows it starts per
 * second (`hashlimit`; setup reaches the world over TCP only), and the
 * TCP ports the box may bind (`listenPorts`, for its
 * Landlock helper: landlock.ts). `chainRules` is pure; `writeChain` and `removeChain` act.
 *
 * ```ts
 * import { chainRules, removeChain, writeChain } from "./sandbox_network.ts";
 * chainRules({ kind: "pipeline", endpoints: ["127.0.0.1:29111"] }, []); // [["-m", "conntrack", ...], ...]
 * writeChain(61234, { kind: "none" });
 * removeChain(61234);
 * ```
 * @module
 */

import { mustRun, run, SandboxError } from "./sandbox_error.ts";
import { DEFAULT_CONNECTIONS } from "./sandbox_bounds.ts";

const CHAIN_PREFIX = "chaos-sb-";

/**
 * New connections and flows (TCP, UDP, ICMP) a box may start per second (after a burst): each
 * lingers in the host's conntrack table (a closed TCP connection 120 s in TIME_WAIT here, a UDP
 * flow 30 s), so 200/s keeps a box under 30,000 of its 262,144 entries; a pipeline that reuses its
 * connections opens a few per second.
 */
export const NEW_CONNECTIONS_PER_SECOND = 200;
export const NEW_CONNECTIONS_BURST = 1000;

/** Who may be reached: `setup` also reaches non-local addresses (package registries). */
export type NetworkPolicy =
  | { kind: "setup" }
  | {
    kind: "pipeline";
    /** `ip:port` or URLs with an IPv4 host (Sandbox.network resolves names first). */
    endpoints: string[];
    /** Also the nameservers (an endpoint was given by name). Default false. */
    dns?: boolean;
    /**
     * The TCP ports the box may bind (a component's METRICS_PORT), and no other: not port 0
     * either (Landlock, landlock.ts). Default: any.
     */
    listen?: number[];
  }
  | { kind: "none" };

/**
 * TCP connections a box may hold open to one endpoint (the box's whole bound is
 * sandbox_bounds.ts's `connections`): a client pool's worth (an S3 SDK's 50 sockets), and no box
 * can hold one service's connections by the hundred (a broker's buffers per connection, and
 * each half-sent request's, up to socket.request.max.bytes: compose/kafka_config.ts).
 */
export const ENDPOINT_CONNECTIONS = 64;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** What setup never reaches: link-local (instance metadata), private and shared (CGNAT) ranges. */
export const PRIVATE_V4 = [
  "169.254.0.0/16",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
];
/** Link-local and unique-local IPv6. */
export const PRIVATE_V6 = ["fe80::/10", "fc00::/7"];
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+)\/\d{1,3}$/i;

/**
 * The private ranges setup may reach anyway (a package mirror on the local network):
 * `CHAOS_SANDBOX_SETUP_ALLOW`, comma-separated CIDRs; anything else in it is refused.
 */
export function setupAllowFromEnv(
  value = Deno.env.get("CHAOS_SANDBOX_SETUP_ALLOW") ?? "",
): string[] {
  const cidrs = value.split(",").map((c) => c.trim()).filter(Boolean);
  for (const c of cidrs) {
    if (!CIDR.test(c)) {
      throw new SandboxError(
        `CHAOS_SANDBOX_SETUP_ALLOW: ${JSON.stringify(c)} is no CIDR (e.g. 10.1.2.0/24)`,
      );
    }
  }
  return cidrs;
}

/**
 * The iptables (`family` 4) or ip6tables (6) rules of a policy: the chain's body, each an argv
 * after `-A <chain>`. The contract's endpoints are IPv4: over IPv6 a pipeline reaches nothing.
 */
export function chainRules(
  policy: NetworkPolicy,
  nameservers: string[],
  family: 4 | 6 = 4,
  setupAllow: string[] = [],
  connections = DEFAULT_CONNECTIONS,
  rateName = "chaos-sb",
): string[][] {
  const rules: string[][] = [
    ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
    // The box's connections together (every address: mask 0), counted by this rule of its own.
    [
      "-p",
      "tcp",
      "--syn",
      "-m",
      "connlimit",
      "--connlimit-above",
      String(connections),
      "--connlimit-mask",
      "0",
      "-j",
      "REJECT",
      "--reject-with",
      "tcp-reset",
    ],
    // And what it starts per second, whatever the protocol (a TCP connection, a UDP or ICMP
    // flow): each leaves an entry in the host's conntrack table for seconds to minutes (a closed
    // connection in TIME_WAIT), and a full table drops every new connection of the host.
    [
      "-m",
      "conntrack",
      "--ctstate",
      "NEW",
      "-m",
      "hashlimit",
      "--hashlimit-above",
      `${NEW_CONNECTIONS_PER_SECOND}/sec`,
      "--hashlimit-burst",
      String(NEW_CONNECTIONS_BURST),
      "--hashlimit-mode",
      "srcip",
      "--hashlimit-srcmask",
      "0",
      "--hashlimit-name",
      rateName,
      "-j",
      "REJECT",
    ],
  ];
  const mine = nameservers.filter((ns) => IPV4.test(ns) === (family === 4));
  const dns = () =>
    mine.flatMap((ns) =>
      ["udp", "tcp"].map((p) => ["-p", p, "-d", ns, "--dport", "53", "-j", "ACCEPT"])
    );
  if (policy.kind === "pipeline") {
    for (const e of policy.endpoints) {
      const { host, port } = splitHostPort(e);
      if (!IPV4.test(host)) {
        throw new SandboxError(`cannot allow endpoint ${JSON.stringify(e)}: not an IPv4 address`);
      }
      if (family === 4) {
        // Its connections to each endpoint, counted by a rule of their own (ENDPOINT_CONNECTIONS).
        rules.push([
          ...["-p", "tcp", "--syn", "-d", host, "--dport", String(port)],
          ...["-m", "connlimit", "--connlimit-above", String(ENDPOINT_CONNECTIONS)],
          ...["--connlimit-mask", "0", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ]);
        rules.push(["-p", "tcp", "-d", host, "--dport", String(port), "-j", "ACCEPT"]);
      }
    }
    if (policy.dns) rules.push(...dns());
  } else if (policy.kind === "setup") {
    rules.push(...dns());
    // Not this host's own addresses (the stack, the grader), not loopback: the rest is the world.
    rules.push(["-d", family === 4 ? "127.0.0.0/8" : "::1/128", "-j", "REJECT"]);
    rules.push(["-m", "addrtype", "--dst-type", "LOCAL", "-j", "REJECT"]);
    // A private mirror the grader named (CHAOS_SANDBOX_SETUP_ALLOW) before the private ranges.
    for (const cidr of setupAllow.filter((c) => c.includes(":") === (family === 6))) {
      rules.push(["-d", cidr, "-j", "ACCEPT"]);
    }
    // Not the cloud's instance metadata, the local networks, other runs' containers.
    for (const cidr of family === 4 ? PRIVATE_V4 : PRIVATE_V6) {
      rules.push(["-d", cidr, "-j", "REJECT"]);
    }
    // TCP only (the registries speak HTTPS; DNS went to the nameservers above): a box has no
    // business sending UDP or ICMP to the world.
    rules.push(["-p", "tcp", "-j", "ACCEPT"]);
  }
  rules.push(["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"]);
  rules.push(["-j", "REJECT"]);
  return rules;
}

/** `host:port`, `[v6]:port` or a URL, into its host (`localhost`: 127.0.0.1) and port. */
export function splitHostPort(endpoint: string): { host: string; port: number } {
  let hostPort = endpoint.trim();
  let defaultPort: number | undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(hostPort)) {
    const url = new URL(hostPort);
    defaultPort = { "http:": 80, "https:": 443 }[url.protocol];
    hostPort = url.port ? `${url.hostname}:${url.port}` : `${url.hostname}:${defaultPort ?? ""}`;
  }
  const m = /^(.*):(\d+)$/.exec(hostPort);
  if (!m) throw new SandboxError(`cannot allow endpoint ${JSON.stringify(endpoint)}: no port`);
  let host = m[1].replace(/^\[|\]$/g, "");
  if (host === "localhost") host = "127.0.0.1";
  return { host, port: Number(m[2]) };
}

/** Endpoints with their names resolved (IPv4, `A` records): `ip:port` each, and whether any had a name. */
export async function resolveEndpoints(
  endpoints: string[],
): Promise<{ endpoints: string[]; named: boolean }> {
  const out: string[] = [];
  let named = false;
  for (const e of endpoints) {
    const { host, port } = splitHostPort(e);
    if (IPV4.test(host)) {
      out.push(`${host}:${port}`);
      continue;
    }
    named = true;
    let ips: string[];
    try {
      ips = await Deno.resolveDns(host, "A");
    } catch (error) {
      throw new SandboxError(`cannot allow endpoint ${e}: ${host} does not resolve`, {
        cause: error,
      });
    }
    for (const ip of ips) out.push(`${ip}:${port}`);
  }
  return { endpoints: out, named };
}

function nameservers(): string[] {
  try {
    return [...Deno.readTextFileSync("/etc/resolv.conf").matchAll(/^nameserver\s+(\S+)/gm)]
      .map((m) => m[1]).filter((ns) => /^\d{1,3}(\.\d{1,3}){3}$/.test(ns));
  } catch {
    return [];
  }
}

/**
 * The ports file's text for a policy (landlock.ts): `any`, the ports a box may bind, or `none`.
 * Setup binds nothing (it reaches no loopback port, so no listener of its could be reached,
 * and a port it bound could be a concurrent grading's killed service's); a component's box its
 * `listen` ports only: never port 0 (an ephemeral
 * port bound before a connect stays the box's, unshared, for the 60 s its closed connection
 * waits in TIME_WAIT, owned by no uid: chaos/socket_guard.ts cannot count it); a box that reaches
 * nothing binds nothing. connect() and listen() on an unbound socket still pick ephemeral ports.
 */
export function listenPorts(policy: NetworkPolicy): string {
  if (policy.kind === "setup" || policy.kind === "none") return "none";
  if (!policy.listen) return "any";
  const ports = policy.listen.filter((p) => p !== 0);
  return ports.length ? ports.join(",") : "none";
}

/** iptables' match of the packets of `uid`'s sockets. */
export function ownerMatch(uid: number): string[] {
  return ["-m", "owner", "--uid-owner", String(uid)];
}

/** True when this host has IPv6 addresses (then ip6tables must hold the chain too). */
function hasIpv6(): boolean {
  try {
    return Deno.readTextFileSync("/proc/net/if_inet6").trim() !== "";
  } catch {
    return false;
  }
}

/** The firewalls that hold a sandbox's chain: iptables, and ip6tables where IPv6 is up. */
export function firewalls(): [string, 4 | 6][] {
  return hasIpv6() ? [["iptables", 4], ["ip6tables", 6]] : [["iptables", 4]];
}

/** The name of the uid's chain. */
export function chainName(uid: number): string {
  return `${CHAIN_PREFIX}${uid}`;
}

/** Writes `policy` as the uid's chain (made, with its jump from OUTPUT, when missing). */
export function writeChain(
  uid: number,
  policy: NetworkPolicy,
  connections = DEFAULT_CONNECTIONS,
): void {
  const chain = chainName(uid);
  for (const [tool, family] of firewalls()) {
    const rules = chainRules(
      policy,
      nameservers(),
      family,
      setupAllowFromEnv(),
      connections,
      chain,
    );
    if (run(tool, ["-w", "-F", chain]).code !== 0) {
      mustRun(tool, ["-w", "-N", chain]);
      mustRun(tool, ["-w", "-I", "OUTPUT", ...ownerMatch(uid), "-j", chain]);
    }
    for (const r of rules) mustRun(tool, ["-w", "-A", chain, ...r]);
  }
}

/** Removes the uid's chain and every jump to it; idempotent. */
export function removeChain(uid: number): void {
  const chain = chainName(uid);
  const jump = ["OUTPUT", ...ownerMatch(uid), "-j", chain];
  for (const [tool] of firewalls()) {
    while (run(tool, ["-w", "-D", ...jump]).code === 0) { /* every copy of the jump */ }
    if (run(tool, ["-w", "-F", chain]).code === 0) mustRun(tool, ["-w", "-X", chain]);
  }
}
