/**
 * A network namespace of a graded box's own (compose/sandbox.ts): the box's sockets, ports and
 * connections are its own (thousands of sockets bound to port 0 take none of the host's ephemeral
 * ports), and it reaches ONLY the contract's endpoints on the host's loopback, at the addresses it
 * sees today (`127.0.0.1:<port>`: the brokers advertise those).
 *
 * The plumbing, for a box `chaos-box-<owner pid>-<slot>` (the slot one of 16,384 /30s of
 * BOX_NET_RANGE, reserved by the host end's name `cbx<slot>`, which the kernel makes unique):
 *
 * - a veth pair: `eth0` in the box (`10.231.a.b+2/30`), `cbx<slot>` on the host (`…+1`), IPv6 off
 *   on both, the box's `lo` up; no default route in the box: the host's /30 is all it can route to;
 * - in the box (`boxRestore`, every table of the namespace replaced at once): each allowed
 *   endpoint `127.x.y.z:<port>` DNATed in `nat OUTPUT` to the host end's `<port>`, SNATed to the
 *   box's address (`route_localnet` on: a packet from 127.0.0.1 may leave), everything else out
 *   of the box refused; its own loopback free;
 * - on the host (`hostRestore`, chains `<name>-pre|-in|-out|-post|-fwd` of the `nat` and `filter`
 *   tables jumped to from the built-in chains for `cbx<slot>` only): `<host end>:<port>` DNATed
 *   back to `127.x.y.z:<port>` (`route_localnet` on `cbx<slot>`), the source SNATed to 127.0.0.1
 *   (the services see the box as they see a local client today), then `filter INPUT` the box's
 *   sandbox chain as for a uid in the host's namespace (sandbox_network.ts's `chainRules`: the
 *   endpoints, the connection bound, the rate of new connections, the rest refused); nothing is
 *   forwarded from or to the box. The host's rules alone hold the box (a box that rewrote its own
 *   rules, which its uid cannot, would still reach nothing more);
 * - `publish` ports (a component's METRICS_PORT, which the harness scrapes at 127.0.0.1): the
 *   host's connections to `127.x.y.z:<port>` DNATed to the box, and there to its 127.0.0.1.
 *
 * A box's processes enter it with `wrap` (`nsenter --net`: no other namespace or bound of the
 * box's changes: uid, cgroups, Landlock stay the sandbox's). `close` kills what is still in the
 * namespace and removes the veth pair, every rule and chain and the namespace. A grader that dies
 * leaves them: `cleanStaleBoxNets` (run by every `openBoxNet`) removes those whose owner is gone,
 * and `boxNetCleanScript` is the same for a watchdog's shell.
 *
 * Only TCP to the host's loopback: an endpoint elsewhere (an external stack's brokers) is refused
 * (`BoxNetError`), as is DNS.
 *
 * ```ts
 * import { boxNetProblem, openBoxNet } from "./box_net.ts";
 * if (boxNetProblem()) throw new Error(boxNetProblem());
 * const net = await openBoxNet();
 * await net.allow({ endpoints: ["127.0.0.1:29111", "http://127.0.0.1:29200"], publish: [29051] });
 * const argv = net.wrap(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/29111"]);
 * await net.close();
 * ```
 * @module
 */

import { chainRules, splitHostPort } from "./sandbox_network.ts";
import { DEFAULT_CONNECTIONS } from "./sandbox_bounds.ts";
import { run } from "./sandbox_error.ts";

/** A box network that cannot be made, changed or removed as asked (command and output said). */
export class BoxNetError extends Error {
  override name = "BoxNetError";
}

/** Every box namespace's name starts so: `chaos-box-<owner pid>-<slot>`. */
export const NETNS_PREFIX = "chaos-box-";
/** The host end of a box's veth pair: `cbx<slot>`. */
export const LINK_PREFIX = "cbx";
/** The box's end, inside its namespace. */
export const BOX_LINK = "eth0";
/** The addresses of the boxes' /30s. */
export const BOX_NET_RANGE = "10.231.0.0/16";
/** /30s in BOX_NET_RANGE. */
export const SLOTS = 16384;
/** Both ends' MTU (the host's loopback has 65536): fewer, bigger packets on the path. */
export const BOX_MTU = 65520;
/** Where `ip netns` keeps its namespaces. */
export const NETNS_DIR = "/run/netns";
/** The host's chains of a box, by the table they are in. */
const HOST_CHAINS = { nat: ["pre", "in", "out", "post"], filter: ["in", "fwd"] } as const;

/** True when the grader asks for a box network namespace per box (`CHAOS_BOX_NETNS=1`). */
export function boxNetsOn(env: { get(name: string): string | undefined } = Deno.env): boolean {
  return env.get("CHAOS_BOX_NETNS") === "1";
}

/** What a box may reach and what of it the host reaches. */
export interface BoxNetPolicy {
  /**
   * The host's loopback endpoints the box reaches: `127.x.y.z:<port>` or URLs (`localhost` is
   * 127.0.0.1). Anything not on 127.0.0.0/8 is refused.
   */
  endpoints: string[];
  /** The box's TCP ports the host reaches at 127.0.0.0/8:<port> (metrics). Default none. */
  publish?: number[];
  /** TCP connections the box may hold open to the host at once. Default DEFAULT_CONNECTIONS. */
  connections?: number;
}

/** A box's slot, the host end's name and both ends' addresses. */
export interface BoxAddresses {
  slot: number;
  link: string;
  host: string;
  box: string;
}

/** The /30 of `slot`: the host end `.1`, the box `.2` (of its four). */
export function slotAddresses(slot: number): BoxAddresses {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) {
    throw new BoxNetError(`box network slot ${slot} is not one of 0-${SLOTS - 1}`);
  }
  const base = `10.231.${slot >> 6}.${(slot & 63) * 4}`;
  const at = (n: number) => base.replace(/\d+$/, (d) => String(Number(d) + n));
  return { slot, link: `${LINK_PREFIX}${slot}`, host: at(1), box: at(2) };
}

/** A box namespace's name: its owner's pid and its slot. */
export function boxNetName(owner: number, slot: number): string {
  return `${NETNS_PREFIX}${owner}-${slot}`;
}

/** The owner and slot a box namespace's (or chain's) name carries, or undefined. */
export function parseBoxNetName(name: string): { owner: number; slot: number } | undefined {
  const m = /^chaos-box-(\d+)-(\d+)(?:-[a-z]+)?$/.exec(name);
  if (!m) return undefined;
  const [owner, slot] = [Number(m[1]), Number(m[2])];
  return slot < SLOTS ? { owner, slot } : undefined;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The policy's endpoints as `{host, port}` on the host's loopback (duplicates dropped). Throws
 * on one elsewhere, and on one port at two loopback addresses (the box reaches a port at one).
 */
export function loopbackEndpoints(endpoints: readonly string[]): { host: string; port: number }[] {
  const byPort = new Map<number, string>();
  for (const e of endpoints) {
    const { host, port } = splitHostPort(e);
    if (!IPV4.test(host) || !host.startsWith("127.")) {
      throw new BoxNetError(
        `a box's own network reaches only the host's loopback (127.0.0.0/8): ${
          JSON.stringify(e)
        } is not on it`,
      );
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new BoxNetError(`endpoint ${JSON.stringify(e)}: no TCP port`);
    }
    const seen = byPort.get(port);
    if (seen && seen !== host) {
      throw new BoxNetError(`endpoint port ${port} at both ${seen} and ${host}: a box reaches one`);
    }
    byPort.set(port, host);
  }
  return [...byPort].map(([port, host]) => ({ host, port }));
}

function ports(publish: readonly number[] | undefined): number[] {
  for (const p of publish ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new BoxNetError(`cannot publish port ${p}: not a TCP port`);
    }
  }
  return [...new Set(publish ?? [])];
}

/** The box namespace's every table (`iptables-restore` text, replacing all of it). Pure. */
export function boxRestore(a: BoxAddresses, policy: BoxNetPolicy): string {
  const reach = loopbackEndpoints(policy.endpoints);
  const publish = ports(policy.publish);
  const dev = BOX_LINK;
  const tcp = "-p tcp -m tcp";
  return [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":INPUT ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":POSTROUTING ACCEPT [0:0]",
    ...reach.map((e) =>
      `-A OUTPUT -d ${e.host}/32 ${tcp} --dport ${e.port} -j DNAT --to-destination ${a.host}:${e.port}`
    ),
    ...publish.map((p) =>
      `-A PREROUTING -i ${dev} -d ${a.box}/32 ${tcp} --dport ${p} -j DNAT --to-destination 127.0.0.1:${p}`
    ),
    `-A POSTROUTING -o ${dev} -j SNAT --to-source ${a.box}`,
    "COMMIT",
    "*filter",
    ":INPUT DROP [0:0]",
    ":FORWARD DROP [0:0]",
    ":OUTPUT DROP [0:0]",
    "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ...publish.map((p) => `-A INPUT -i ${dev} -d 127.0.0.1/32 ${tcp} --dport ${p} -j ACCEPT`),
    // Refused, not dropped: a host that knocks elsewhere learns it at once.
    "-A INPUT -p tcp -j REJECT --reject-with tcp-reset",
    "-A OUTPUT -o lo -j ACCEPT",
    "-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ...reach.map((e) => `-A OUTPUT -o ${dev} -d ${a.host}/32 ${tcp} --dport ${e.port} -j ACCEPT`),
    "-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset",
    "-A OUTPUT -j REJECT",
    "COMMIT",
    "",
  ].join("\n");
}

/** The host chain `<name>-<part>`. */
function chain(name: string, part: string): string {
  return `${name}-${part}`;
}

/**
 * The host's rules of the box `name` (`iptables-restore --noflush` text: its chains declared,
 * so emptied, and filled), with the jumps to them from the built-in chains when `jumps`. Pure.
 */
export function hostRestore(
  name: string,
  a: BoxAddresses,
  policy: BoxNetPolicy,
  jumps = false,
): string {
  const reach = loopbackEndpoints(policy.endpoints);
  const publish = ports(policy.publish);
  const c = (part: string) => chain(name, part);
  const tcp = "-p tcp -m tcp";
  // The sandbox's chain for a uid of the host's namespace, on what the box sends after the DNAT.
  const input = chainRules(
    { kind: "pipeline", endpoints: reach.map((e) => `${e.host}:${e.port}`) },
    [],
    4,
    [],
    policy.connections ?? DEFAULT_CONNECTIONS,
    a.link,
  );
  return [
    "*nat",
    ...HOST_CHAINS.nat.map((p) => `:${c(p)} - [0:0]`),
    ...reach.map((e) =>
      `-A ${
        c("pre")
      } -d ${a.host}/32 ${tcp} --dport ${e.port} -j DNAT --to-destination ${e.host}:${e.port}`
    ),
    // The services see the box as a local client (as they saw it in the host's namespace).
    `-A ${c("in")} -j SNAT --to-source 127.0.0.1`,
    ...publish.map((p) =>
      `-A ${c("out")} -d 127.0.0.0/8 ${tcp} --dport ${p} -j DNAT --to-destination ${a.box}:${p}`
    ),
    `-A ${c("post")} -j SNAT --to-source ${a.host}`,
    ...(jumps
      ? [
        `-I PREROUTING 1 -i ${a.link} -j ${c("pre")}`,
        `-I INPUT 1 -i ${a.link} -j ${c("in")}`,
        `-I OUTPUT 1 -d 127.0.0.0/8 -p tcp -j ${c("out")}`,
        `-I POSTROUTING 1 -o ${a.link} -j ${c("post")}`,
      ]
      : []),
    "COMMIT",
    "*filter",
    ...HOST_CHAINS.filter.map((p) => `:${c(p)} - [0:0]`),
    ...input.map((r) => `-A ${c("in")} ${r.join(" ")}`),
    `-A ${c("fwd")} -j DROP`,
    ...(jumps
      ? [
        `-I INPUT 1 -i ${a.link} -j ${c("in")}`,
        `-I FORWARD 1 -i ${a.link} -j ${c("fwd")}`,
        `-I FORWARD 1 -o ${a.link} -j ${c("fwd")}`,
      ]
      : []),
    "COMMIT",
    "",
  ].join("\n");
}

/** A tool's exit code and output (127: it could not be spawned), `input` on its stdin. */
async function exec(
  cmd: string,
  args: string[],
  input?: string,
): Promise<{ code: number; out: string }> {
  try {
    const child = new Deno.Command(cmd, {
      args,
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (input !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(input));
      await w.close();
    }
    const o = await child.output();
    const dec = new TextDecoder();
    return { code: o.code, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).trim() };
  } catch (error) {
    return { code: 127, out: `${cmd}: ${(error as Error).message}` };
  }
}

async function mustExec(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await exec(cmd, args, input);
  if (r.code !== 0) {
    throw new BoxNetError(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.out}`);
  }
  return r.out;
}

/** The tools a box network needs, with the package that has them. */
const TOOLS: [string, string[], string][] = [
  ["ip", ["-V"], "iproute2"],
  ["nsenter", ["--version"], "util-linux"],
  ["iptables", ["--version"], "iptables"],
  ["iptables-save", ["--version"], "iptables"],
  ["iptables-restore", ["--version"], "iptables"],
];

/**
 * Why this host cannot give a box a network namespace of its own (what is missing), or
 * undefined when it can.
 */
export function boxNetProblem(): string | undefined {
  if (Deno.build.os !== "linux") {
    return `a box's own network needs Linux (this is ${Deno.build.os})`;
  }
  if (Deno.uid() !== 0) {
    return `a box's own network needs root (ip netns, veth, iptables); this is uid ${Deno.uid()}`;
  }
  for (const [tool, args, pkg] of TOOLS) {
    if (run(tool, args).code === 127) {
      return `a box's own network needs ${tool} (${pkg}) on PATH`;
    }
  }
  const nat = run("iptables", ["-w", "-t", "nat", "-S", "POSTROUTING"]);
  if (nat.code !== 0) return `a box's own network needs iptables' nat table: ${nat.out}`;
  // An address of the host's in BOX_NET_RANGE (not a box's) would clash with the boxes'.
  const addrs = run("ip", ["-4", "-o", "addr", "show"]);
  for (const line of addrs.out.split("\n")) {
    const m = /^\d+:\s+(\S+)\s+inet\s+(10\.231\.\S+)/.exec(line);
    if (m && !m[1].startsWith(LINK_PREFIX)) {
      return `the host's ${m[1]} has ${m[2]}, in the boxes' range ${BOX_NET_RANGE}`;
    }
  }
  return undefined;
}

/** True while the process `pid` lives. */
function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** The box namespaces of this host, by name. */
async function netnsNames(): Promise<string[]> {
  const out = await exec("ip", ["netns", "list"]);
  return out.out.split("\n").map((l) => l.split(" ")[0]).filter((n) => parseBoxNetName(n));
}

/** The host chains of every box (their names: `chaos-box-<owner>-<slot>-<part>`), by table. */
async function hostChains(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const table of ["nat", "filter"]) {
    const text = await mustExec("iptables-save", ["-t", table]);
    out.set(table, [...text.matchAll(/^:(chaos-box-\d+-\d+-[a-z]+) /gm)].map((m) => m[1]));
  }
  return out;
}

/** Removes the jumps to the box `name`'s host chains and the chains; idempotent. */
async function removeHostRules(name: string): Promise<void> {
  const mine = new RegExp(
    `^${name}-(?:${[...new Set(Object.values(HOST_CHAINS).flat())].join("|")})$`,
  );
  for (const table of ["nat", "filter"]) {
    const text = await mustExec("iptables-save", ["-t", table]);
    const chains = [...text.matchAll(/^:(\S+) /gm)].map((m) => m[1]).filter((c) => mine.test(c));
    if (chains.length === 0) continue;
    // Our jumps carry no quoted argument: a line splits into its arguments at spaces.
    for (const line of text.split("\n")) {
      const args = line.split(" ");
      const target = args[args.indexOf("-j") + 1];
      if (args[0] !== "-A" || !chains.includes(target) || chains.includes(args[1])) continue;
      await mustExec("iptables", ["-w", "-t", table, "-D", ...args.slice(1)]);
    }
    for (const c of chains) await mustExec("iptables", ["-w", "-t", table, "-F", c]);
    for (const c of chains) await mustExec("iptables", ["-w", "-t", table, "-X", c]);
  }
}

/** Kills every process in the namespace `name` (its path), as `ip netns pids` lists them. */
async function killInside(name: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = (await exec("ip", ["netns", "pids", name])).out.split("\n")
      .map(Number).filter((p) => Number.isInteger(p) && p > 0);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Removes the box `name`: what runs in it killed, its veth pair (deleted from the box's end:
 * the host's `cbx<slot>` is then ours for sure), its host rules, the namespace. Idempotent.
 */
async function teardown(name: string): Promise<void> {
  const there = (await netnsNames()).includes(name);
  if (there) {
    await killInside(name);
    await exec("ip", ["-n", name, "link", "del", BOX_LINK]);
  }
  await removeHostRules(name);
  if (there) await mustExec("ip", ["netns", "del", name]);
}

/** What of the box `name` is still on the host (its namespace, link, chains): empty when gone. */
export async function boxNetLeftovers(name: string): Promise<string[]> {
  const left: string[] = [];
  if ((await netnsNames()).includes(name)) left.push(`namespace ${name}`);
  const parsed = parseBoxNetName(name);
  if (parsed) {
    const link = slotAddresses(parsed.slot).link;
    // (Another box may take the slot the moment this one freed it: unlikely, 1 in SLOTS.)
    if ((await exec("ip", ["-o", "link", "show", "dev", link])).code === 0) {
      left.push(`link ${link}`);
    }
  }
  for (const [table, chains] of await hostChains()) {
    for (const c of chains) if (c.startsWith(`${name}-`)) left.push(`${table} chain ${c}`);
  }
  return left;
}

/**
 * Removes the box networks of owners that are gone (their namespaces, links and host chains),
 * never this process's; the names removed.
 */
export async function cleanStaleBoxNets(): Promise<string[]> {
  const names = new Set(await netnsNames());
  for (const chains of (await hostChains()).values()) {
    for (const c of chains) names.add(c.replace(/-[a-z]+$/, ""));
  }
  const stale = [...names].filter((n) => {
    const p = parseBoxNetName(n);
    return p && p.owner !== Deno.pid && !alive(p.owner);
  });
  for (const name of stale) await teardown(name);
  return stale;
}

/**
 * True when a box namespace of an owner that is gone is on the host (a look at NETNS_DIR, no
 * tool run): `cleanStaleBoxNets` has work. For a grader that makes no box network itself.
 */
export function staleBoxNetsThere(): boolean {
  try {
    for (const e of Deno.readDirSync(NETNS_DIR)) {
      const p = parseBoxNetName(e.name);
      if (p && p.owner !== Deno.pid && !alive(p.owner)) return true;
    }
  } catch { /* no namespaces */ }
  return false;
}

/**
 * The same for a shell (a watchdog's, after its owner died): every box network of the pid in
 * `$owner` removed (what runs in it killed, its veth pair, its host chains, the namespace).
 */
export const boxNetCleanScript = String.raw`
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^chaos-box-$owner-[0-9]+$"); do
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  ip -n "$ns" link del eth0 2>/dev/null
done
for t in nat filter; do
  iptables-save -t "$t" 2>/dev/null | grep -E "^-A [A-Z]+ .*-j chaos-box-$owner-[0-9]+-[a-z]+$" |
    sed 's/^-A //' | while read -r r; do iptables -w -t "$t" -D $r; done
  for c in $(iptables-save -t "$t" 2>/dev/null | sed -n "s/^:\(chaos-box-$owner-[0-9]*-[a-z]*\) .*/\1/p"); do
    iptables -w -t "$t" -F "$c"; iptables -w -t "$t" -X "$c"
  done
done
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^chaos-box-$owner-[0-9]+$"); do
  ip netns del "$ns" 2>/dev/null
done`;

/** A box's network namespace (see the module's doc); made by `openBoxNet`. */
export class BoxNet {
  /** `chaos-box-<owner pid>-<slot>`: the namespace's name and its host chains' prefix. */
  readonly name: string;
  readonly addresses: BoxAddresses;
  #closed = false;

  constructor(name: string, addresses: BoxAddresses) {
    this.name = name;
    this.addresses = addresses;
  }

  /** The namespace's file (`nsenter --net=` it). */
  get path(): string {
    return `${NETNS_DIR}/${this.name}`;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The argv that runs `argv` in the box's namespace (no other namespace or bound changes). */
  wrap(argv: readonly string[]): string[] {
    if (this.#closed) throw new BoxNetError(`box network ${this.name} is closed`);
    return ["nsenter", `--net=${this.path}`, "--", ...argv];
  }

  /** Sets what the box reaches and what of it the host reaches (its rules replaced, both sides). */
  async allow(policy: BoxNetPolicy): Promise<void> {
    if (this.#closed) throw new BoxNetError(`box network ${this.name} is closed`);
    const box = boxRestore(this.addresses, policy);
    const host = hostRestore(this.name, this.addresses, policy);
    // The host first: what it allows no more is refused there whatever the box's rules say.
    await mustExec("iptables-restore", ["-w", "--noflush"], host);
    await mustExec("nsenter", [`--net=${this.path}`, "iptables-restore", "-w"], box);
  }

  /** Kills what runs in it, removes the veth pair, the host's rules and the namespace. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await teardown(this.name);
    const left = await boxNetLeftovers(this.name);
    if (left.length) throw new BoxNetError(`box network ${this.name} left ${left.join(", ")}`);
  }
}

/** The shell lines that make the box's end (run in its namespace). */
function boxSetup(a: BoxAddresses): string {
  const conf = (family: string, dev: string, key: string) =>
    `/proc/sys/net/${family}/conf/${dev}/${key}`;
  return [
    "set -e",
    `[ ! -e ${conf("ipv6", BOX_LINK, "disable_ipv6")} ] || echo 1 >${
      conf("ipv6", BOX_LINK, "disable_ipv6")
    }`,
    `echo 1 >${conf("ipv4", "all", "route_localnet")}`,
    `echo 1 >${conf("ipv4", BOX_LINK, "route_localnet")}`,
    `ip addr add ${a.box}/30 dev ${BOX_LINK}`,
    `ip link set ${BOX_LINK} mtu ${BOX_MTU} up`,
    "ip link set lo up",
  ].join("\n");
}

/**
 * Makes a box's network: a namespace of its own on a free slot, its veth pair, and the rules of
 * a box that reaches nothing yet (`allow` says more). Removes stale ones first.
 */
export async function openBoxNet(): Promise<BoxNet> {
  const why = boxNetProblem();
  if (why) throw new BoxNetError(why);
  await cleanStaleBoxNets();
  for (let tries = 0; tries < 100; tries++) {
    const slot = crypto.getRandomValues(new Uint32Array(1))[0] % SLOTS;
    const a = slotAddresses(slot);
    const name = boxNetName(Deno.pid, slot);
    if ((await exec("ip", ["netns", "add", name])).code !== 0) continue;
    // The host end's name reserves the slot: the kernel refuses a second `cbx<slot>`.
    const veth = await exec("ip", [
      "-n",
      name,
      "link",
      "add",
      BOX_LINK,
      "type",
      "veth",
      "peer",
      "name",
      a.link,
      "netns",
      String(Deno.pid),
    ]);
    if (veth.code !== 0) {
      await exec("ip", ["netns", "del", name]);
      if (/exists/i.test(veth.out)) continue;
      throw new BoxNetError(`cannot make box network ${name}'s veth pair: ${veth.out}`);
    }
    const net = new BoxNet(name, a);
    try {
      const v6 = `/proc/sys/net/ipv6/conf/${a.link}/disable_ipv6`;
      try {
        Deno.writeTextFileSync(v6, "1");
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      Deno.writeTextFileSync(`/proc/sys/net/ipv4/conf/${a.link}/route_localnet`, "1");
      await mustExec("ip", ["addr", "add", `${a.host}/30`, "dev", a.link]);
      await mustExec("ip", ["link", "set", a.link, "mtu", String(BOX_MTU), "up"]);
      await mustExec("nsenter", [`--net=${net.path}`, "sh", "-c", boxSetup(a)]);
      const none: BoxNetPolicy = { endpoints: [] };
      await mustExec("iptables-restore", ["-w", "--noflush"], hostRestore(name, a, none, true));
      await mustExec(
        "nsenter",
        [`--net=${net.path}`, "iptables-restore", "-w"],
        boxRestore(a, none),
      );
      return net;
    } catch (error) {
      await net.close().catch(() => {});
      throw error instanceof BoxNetError
        ? error
        : new BoxNetError(`cannot make box network ${name}`, { cause: error });
    }
  }
  throw new BoxNetError(`no free slot for a box network in ${BOX_NET_RANGE}`);
}
