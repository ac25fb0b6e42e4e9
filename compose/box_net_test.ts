/**
 * A box's own network namespace for real (root: ip netns, veth, iptables): a process in it
 * reaches the test's own TCP server at 127.0.0.1:<port> and nothing else of the host, even with
 * the box's own rules gone; the host reaches its published port; 5,000 sockets bound in it take
 * none of the host's ports; nothing is left after `close`, nor after a grader killed outright
 * (`cleanStaleBoxNets`, `boxNetCleanScript`). With CHAOS_BOX_NET_BENCH=1, what the path costs:
 * throughput and round trips over the host's loopback against through the box (a print).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type BoxNet,
  boxNetCleanScript,
  boxNetLeftovers,
  boxNetName,
  boxNetProblem,
  boxRestore,
  cleanStaleBoxNets,
  hostRestore,
  loopbackEndpoints,
  openBoxNet,
  parseBoxNetName,
  slotAddresses,
} from "./box_net.ts";
import { parseDiag, socketDiagHelper } from "./socket_diag.ts";
import { openSandbox, sandboxGaps, sandboxSupport } from "./sandbox.ts";

const problem = boxNetProblem();
/** This test's ports (its brief's range 24600-25199). */
const ALLOWED = 24601;
const OTHER = 24602;
const PUBLISHED = 24610;
const UNPUBLISHED = 24611;
const SAME_PORT = 24620;
const SINK = 24630;
const ECHO = 24631;
/** A uid of the sandbox's range (compose/sandbox.ts), for the sockets bound in the box. */
const SOCKET_UID = 64997;
const PYTHON = "/usr/bin/python3";

Deno.test("box_net: slots, names and addresses", () => {
  assert.deepEqual(slotAddresses(0), {
    slot: 0,
    link: "cbx0",
    host: "10.231.0.1",
    box: "10.231.0.2",
  });
  assert.deepEqual(slotAddresses(16383), {
    slot: 16383,
    link: "cbx16383",
    host: "10.231.255.253",
    box: "10.231.255.254",
  });
  assert.throws(() => slotAddresses(16384), /not one of/);
  assert.equal(boxNetName(4194304, 16383), "chaos-box-4194304-16383");
  // The longest host chain name fits iptables' 28 characters.
  assert.ok(`${boxNetName(4194304, 16383)}-post`.length <= 28);
  assert.deepEqual(parseBoxNetName("chaos-box-12-7"), { owner: 12, slot: 7 });
  assert.deepEqual(parseBoxNetName("chaos-box-12-7-post"), { owner: 12, slot: 7 });
  assert.equal(parseBoxNetName("chaos-box-12"), undefined);
  assert.equal(parseBoxNetName("chaos-sb-61000"), undefined);
});

Deno.test({
  name: "box_net: a missing tool is named, and nothing is made without it",
  ignore: problem !== undefined,
}, async () => {
  const path = Deno.env.get("PATH") ?? "";
  const empty = await Deno.makeTempDir({ prefix: "box-net-path-" });
  Deno.env.set("PATH", empty);
  try {
    assert.equal(boxNetProblem(), "a box's own network needs ip (iproute2) on PATH");
    await assert.rejects(openBoxNet(), /needs ip \(iproute2\)/);
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(empty);
  }
});

Deno.test("box_net: only the host's loopback, one address a port", () => {
  assert.deepEqual(
    loopbackEndpoints(["127.0.0.1:29111", "http://localhost:29200/x", "127.0.0.1:29111"]),
    [{ host: "127.0.0.1", port: 29111 }, { host: "127.0.0.1", port: 29200 }],
  );
  assert.throws(() => loopbackEndpoints(["10.0.0.5:9092"]), /only the host's loopback/);
  assert.throws(() => loopbackEndpoints(["kafka.example:9092"]), /only the host's loopback/);
  assert.throws(() => loopbackEndpoints(["127.0.0.1:9092", "127.0.0.2:9092"]), /reaches one/);
  assert.throws(() => boxRestore(slotAddresses(1), { endpoints: [], publish: [0] }), /not a TCP/);
});

Deno.test("box_net: the rules of each side", () => {
  const a = slotAddresses(5);
  const box = boxRestore(a, { endpoints: ["127.0.0.1:29111"], publish: [29051] });
  assert.match(
    box,
    /-A OUTPUT -d 127\.0\.0\.1\/32 -p tcp -m tcp --dport 29111 -j DNAT --to-destination 10\.231\.0\.21:29111/,
  );
  assert.match(
    box,
    /-A OUTPUT -o eth0 -d 10\.231\.0\.21\/32 -p tcp -m tcp --dport 29111 -j ACCEPT/,
  );
  assert.match(box, /:OUTPUT DROP/);
  assert.match(box, /--dport 29051 -j DNAT --to-destination 127\.0\.0\.1:29051/);
  // Nothing allowed: no DNAT, no way out but loopback.
  assert.doesNotMatch(boxRestore(a, { endpoints: [] }), /DNAT|-o eth0 .*ACCEPT/);
  const host = hostRestore("chaos-box-9-5", a, { endpoints: ["127.0.0.1:29111"] }, true);
  assert.match(
    host,
    /-A chaos-box-9-5-pre -d 10\.231\.0\.21\/32 .*--dport 29111 -j DNAT --to-destination 127\.0\.0\.1:29111/,
  );
  assert.match(host, /-A chaos-box-9-5-in -p tcp -d 127\.0\.0\.1 --dport 29111 -j ACCEPT/);
  assert.match(host, /-A chaos-box-9-5-in .*connlimit-above 512/);
  assert.match(host, /-I INPUT 1 -i cbx5 -j chaos-box-9-5-in/);
  assert.match(host, /-I FORWARD 1 -o cbx5 -j chaos-box-9-5-fwd/);
  // Its last rules refuse the rest.
  const input = host.split("\n").filter((l) => l.startsWith("-A chaos-box-9-5-in -"));
  assert.equal(input.at(-1), "-A chaos-box-9-5-in -j REJECT");
  assert.doesNotMatch(hostRestore("chaos-box-9-5", a, { endpoints: [] }), /^-I /m);
});

/** What a shell in the box says and how it ends. */
async function inBox(net: BoxNet, script: string): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command("timeout", {
    args: ["5", ...net.wrap(["bash", "-c", script])],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).trim() };
}

/** A shell line that sends `hi` to `host:port` and prints the answer. */
function hello(host: string, port: number): string {
  return `exec 3<>/dev/tcp/${host}/${port} && echo hi >&3 && cat <&3`;
}

/** A TCP server on `hostname`:`port` that answers one line: the port, the peer, what it got. */
function lineServer(port: number, hostname = "127.0.0.1"): { close(): Promise<void> } {
  const listener = Deno.listen({ hostname, port });
  const done = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(256);
      const n = await conn.read(buf).catch(() => null);
      const got = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
      const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
      await conn.write(new TextEncoder().encode(`port ${port} peer ${peer}: ${got}\n`))
        .catch(() => {});
      conn.close();
    }
  })().catch(() => {});
  return {
    async close() {
      listener.close();
      await done;
    },
  };
}

/** The host's IPv4 addresses but loopback and the boxes'. */
/** What a server on the host's 127.0.0.1:`port` sends first (one read). */
async function firstRead(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(64);
  const n = await conn.read(buf);
  conn.close();
  return new TextDecoder().decode(buf.subarray(0, n ?? 0));
}

function hostAddresses(): string[] {
  const out = new Deno.Command("ip", { args: ["-4", "-o", "addr", "show"], stdout: "piped" })
    .outputSync();
  return [...new TextDecoder().decode(out.stdout).matchAll(/^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//gm)]
    .filter((m) => m[1] !== "lo" && !m[1].startsWith("cbx")).map((m) => m[2]);
}

Deno.test({
  name: "box_net: the box reaches its endpoint at 127.0.0.1 and nothing else of the host",
  ignore: problem !== undefined,
}, async (t) => {
  const allowed = lineServer(ALLOWED);
  // A service of the host's on every address (the box's host end one of them).
  const other = lineServer(OTHER, "0.0.0.0");
  const net = await openBoxNet();
  try {
    const a = net.addresses;
    await t.step("nothing before allow", async () => {
      assert.notEqual((await inBox(net, hello("127.0.0.1", ALLOWED))).code, 0);
    });
    await net.allow({ endpoints: [`127.0.0.1:${ALLOWED}`], publish: [PUBLISHED] });
    await t.step("its endpoint, seen by the server as a local client", async () => {
      const r = await inBox(net, hello("127.0.0.1", ALLOWED));
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out, `port ${ALLOWED} peer 127.0.0.1: hi`);
    });
    await t.step("not another port of the host, by any of its addresses", async () => {
      for (const host of ["127.0.0.1", a.host, ...hostAddresses()]) {
        const r = await inBox(net, hello(host, OTHER));
        assert.notEqual(r.code, 0, `${host}:${OTHER} answered: ${r.out}`);
      }
      for (const host of hostAddresses()) {
        const r = await inBox(net, hello(host, ALLOWED));
        assert.notEqual(r.code, 0, `${host}:${ALLOWED} answered: ${r.out}`);
      }
      // Nor over IPv6 (the box's ::1 is its own; its veth has no address).
      assert.notEqual((await inBox(net, hello("::1", ALLOWED))).code, 0);
    });
    await t.step("the host publishes the box's port, and no other", async () => {
      const listen = (port: number, host: string) =>
        new Deno.Command("timeout", {
          args: [
            "5",
            ...net.wrap([
              PYTHON,
              "-c",
              `
import socket
s = socket.socket(); s.bind((${JSON.stringify(host)}, ${port})); s.listen()
print("ready", flush=True)
c, a = s.accept(); c.sendall(b"metrics of the box\\n"); c.close()`,
            ]),
          ],
          stdout: "piped",
          stderr: "null",
        }).spawn();
      const server = listen(PUBLISHED, "127.0.0.1");
      const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assert.match((await reader.read()).value ?? "", /ready/);
      assert.equal(await firstRead(PUBLISHED), "metrics of the box\n");
      await reader.cancel();
      await server.status;
      // A port it does not publish, even one it listens on everywhere.
      const unpublished = listen(UNPUBLISHED, "0.0.0.0");
      const r2 = unpublished.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assert.match((await r2.read()).value ?? "", /ready/);
      for (const host of ["127.0.0.1", a.box]) {
        await assert.rejects(() => Deno.connect({ hostname: host, port: UNPUBLISHED }));
      }
      unpublished.kill("SIGKILL");
      await r2.cancel();
      await unpublished.status;
    });
    await t.step("the host's rules alone hold a box whose own rules are gone", async () => {
      const flush = await new Deno.Command("timeout", {
        args: [
          "5",
          ...net.wrap([
            "sh",
            "-c",
            [
              "iptables -w -F",
              "iptables -w -t nat -F",
              ...["INPUT", "OUTPUT", "FORWARD"].map((c) => `iptables -w -P ${c} ACCEPT`),
            ].join(" && "),
          ]),
        ],
      }).output();
      assert.ok(flush.success);
      // The box's 127.0.0.1 is its own now: the host end is the only way to the host.
      const direct = await inBox(net, hello(a.host, ALLOWED));
      assert.equal(direct.code, 0, direct.out);
      assert.equal(direct.out, `port ${ALLOWED} peer 127.0.0.1: hi`);
      const r = await inBox(net, hello(a.host, OTHER));
      assert.notEqual(r.code, 0, `${a.host}:${OTHER} answered: ${r.out}`);
      assert.match(r.out, /refused/i);
    });
    await t.step("allow replaces what it allowed", async () => {
      await net.allow({ endpoints: [`127.0.0.1:${OTHER}`] });
      assert.equal((await inBox(net, hello("127.0.0.1", OTHER))).code, 0);
      assert.notEqual((await inBox(net, hello("127.0.0.1", ALLOWED))).code, 0);
      assert.notEqual((await inBox(net, hello(a.host, ALLOWED))).code, 0);
    });
  } finally {
    await net.close();
    await allowed.close();
    await other.close();
  }
  assert.deepEqual(await boxNetLeftovers(net.name), []);
});

/** `lines` of the host's `iptables-save`, `ip netns list` and `ip -o link` naming `needle`. */
function hostMentions(needle: string): string[] {
  const out: string[] = [];
  for (
    const [cmd, args] of [["iptables-save", []], ["ip", ["netns", "list"]], ["ip", [
      "-o",
      "link",
    ]]] as const
  ) {
    const o = new Deno.Command(cmd, { args: [...args], stdout: "piped" }).outputSync();
    out.push(...new TextDecoder().decode(o.stdout).split("\n").filter((l) => l.includes(needle)));
  }
  return out;
}

Deno.test({
  name: "box_net: 5,000 sockets bound in the box take none of the host's ports",
  ignore: problem !== undefined,
}, async () => {
  const base = await Deno.makeTempDir({ prefix: "box-net-test-" });
  const helper = await socketDiagHelper(base);
  // The host holds a port; the box binds the same one, then 5,000 of the ephemeral range.
  const held = Deno.listen({ hostname: "127.0.0.1", port: SAME_PORT });
  const net = await openBoxNet();
  const box = new Deno.Command("prlimit", {
    args: [
      "--nofile=8192",
      ...net.wrap([
        "setpriv",
        `--reuid=${SOCKET_UID}`,
        `--regid=${SOCKET_UID}`,
        "--clear-groups",
        PYTHON,
        "-c",
        `
import socket, sys
socks = []
s = socket.socket(); s.bind(("0.0.0.0", ${SAME_PORT})); s.listen(); socks.append(s)
for i in range(5000):
  s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(len(socks), flush=True)
sys.stdin.readline()`,
      ]),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const reader = box.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal(((await reader.read()).value ?? "").trim(), "5001");
    reader.releaseLock();
    assert.ok("path" in helper, "problem" in helper ? helper.problem : "");
    const count = async (argv: string[]) => {
      const o = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).output();
      assert.ok(o.success);
      const text = new TextDecoder().decode(o.stdout);
      return parseDiag(text, new Set([SOCKET_UID])).get(SOCKET_UID)?.size ?? 0;
    };
    // The kernel's own tables (sock_diag: bound-only sockets too), of each namespace.
    assert.equal(await count([helper.path, String(SOCKET_UID)]), 0);
    assert.ok(await count(net.wrap([helper.path, String(SOCKET_UID)])) >= 5001);
    // The host's /proc/net/tcp lists none of the uid's sockets either.
    const uidColumn = (text: string) =>
      text.split("\n").slice(1).filter((l) => l.trim().split(/\s+/)[7] === String(SOCKET_UID));
    assert.equal(uidColumn(Deno.readTextFileSync("/proc/net/tcp")).length, 0);
  } finally {
    const w = box.stdin.getWriter();
    await w.write(new TextEncoder().encode("\n")).catch(() => {});
    await w.close().catch(() => {});
    await box.stdout.cancel().catch(() => {});
    const err = await new Response(box.stderr).text();
    const status = await box.status;
    held.close();
    await net.close();
    await Deno.remove(base, { recursive: true });
    assert.ok(status.success, err);
  }
});

/** A grader of its own that opens `count` box networks, says their names, and waits to die. */
async function deadGrader(count: number): Promise<{ pid: number; names: string[] }> {
  const code = `
import { openBoxNet } from ${JSON.stringify(new URL("./box_net.ts", import.meta.url).href)};
const names = [];
for (let i = 0; i < ${count}; i++) {
  const net = await openBoxNet();
  await net.allow({ endpoints: ["127.0.0.1:${ALLOWED}"], publish: [${PUBLISHED}] });
  names.push(net.name);
}
console.log(names.join(" "));
setTimeout(() => {}, 600_000);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const names = ((await reader.read()).value ?? "").trim().split(" ").filter(Boolean);
  child.kill("SIGKILL");
  await reader.cancel();
  await child.status;
  assert.equal(names.length, count);
  return { pid: child.pid, names };
}

Deno.test({
  name: "box_net: nothing is left after close, nor after a grader killed outright",
  ignore: problem !== undefined,
}, async (t) => {
  await t.step("close", async () => {
    const net = await openBoxNet();
    try {
      await net.allow({ endpoints: [`127.0.0.1:${ALLOWED}`], publish: [PUBLISHED] });
      assert.ok(hostMentions(net.name).length > 0);
      assert.ok(hostMentions(`${net.addresses.link}@`).length > 0);
    } finally {
      await net.close();
    }
    assert.deepEqual(hostMentions(net.name), []);
    assert.deepEqual(hostMentions(`${net.addresses.link}@`), []);
    assert.deepEqual(hostMentions(` ${net.addresses.link} `), []);
    assert.throws(() => net.wrap(["true"]), /closed/);
  });
  await t.step("the watchdog's script", async () => {
    const dead = await deadGrader(2);
    for (const name of dead.names) {
      assert.ok((await boxNetLeftovers(name)).length > 0, `${name} was not there to clean`);
    }
    const o = await new Deno.Command("sh", {
      args: ["-c", `owner=$1; ${boxNetCleanScript}`, "sh", String(dead.pid)],
    }).output();
    assert.ok(o.success);
    for (const name of dead.names) assert.deepEqual(await boxNetLeftovers(name), []);
    assert.deepEqual(hostMentions(`chaos-box-${dead.pid}-`), []);
  });
  await t.step("the next grader", async () => {
    const dead = await deadGrader(1);
    const mine = await openBoxNet();
    try {
      // openBoxNet cleaned it already; a second sweep finds nothing and leaves this one.
      assert.deepEqual(await boxNetLeftovers(dead.names[0]), []);
      assert.deepEqual(await cleanStaleBoxNets(), []);
      assert.ok((await boxNetLeftovers(mine.name)).length > 0);
    } finally {
      await mine.close();
    }
  });
});

/** A client of the bench (the same program on both paths): its one line of figures. */
const BENCH_CLIENT = `
const [host, sink, echo, secs, trips] = Deno.args;
const chunk = new Uint8Array(256 * 1024);
const c = await Deno.connect({ hostname: host, port: Number(sink) });
let bytes = 0;
const t0 = performance.now();
while (performance.now() - t0 < Number(secs) * 1000) bytes += await c.write(chunk);
c.close();
const mbps = bytes / 1e6 / ((performance.now() - t0) / 1000);
const e = await Deno.connect({ hostname: host, port: Number(echo) });
e.setNoDelay(true);
const ping = new Uint8Array(64), pong = new Uint8Array(64);
const rtts = [];
for (let i = 0; i < Number(trips); i++) {
  const s = performance.now();
  await e.write(ping);
  let got = 0;
  while (got < 64) got += (await e.read(pong.subarray(got))) ?? 64;
  rtts.push(performance.now() - s);
}
e.close();
rtts.sort((a, b) => a - b);
console.log(JSON.stringify({ mbps, p50us: rtts[rtts.length >> 1] * 1000, p99us: rtts[Math.floor(rtts.length * 0.99)] * 1000 }));`;

Deno.test({
  name: "box_net: what the path costs (bench print; CHAOS_BOX_NET_BENCH=1)",
  ignore: problem !== undefined || Deno.env.get("CHAOS_BOX_NET_BENCH") !== "1",
}, async () => {
  const sink = Deno.listen({ hostname: "127.0.0.1", port: SINK });
  const echo = Deno.listen({ hostname: "127.0.0.1", port: ECHO });
  const serve = async (l: Deno.Listener, answer: boolean) => {
    for await (const conn of l) {
      (async () => {
        const buf = new Uint8Array(256 * 1024);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          if (answer) await conn.write(buf.subarray(0, n)).catch(() => {});
        }
        conn.close();
      })();
    }
  };
  const served = Promise.all([serve(sink, false), serve(echo, true)]).catch(() => {});
  const dir = await Deno.makeTempDir({ prefix: "box-net-bench-" });
  const client = join(dir, "client.ts");
  Deno.writeTextFileSync(client, BENCH_CLIENT);
  const net = await openBoxNet();
  const secs = Deno.env.get("CHAOS_BOX_NET_BENCH_SECS") ?? "3";
  try {
    await net.allow({ endpoints: [`127.0.0.1:${SINK}`, `127.0.0.1:${ECHO}`] });
    const measure = async (wrap: (argv: string[]) => string[]) => {
      const argv = wrap([
        Deno.execPath(),
        "run",
        "-A",
        client,
        "127.0.0.1",
        `${SINK}`,
        `${ECHO}`,
        secs,
        "5000",
      ]);
      const o = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).output();
      assert.ok(o.success);
      return JSON.parse(new TextDecoder().decode(o.stdout)) as {
        mbps: number;
        p50us: number;
        p99us: number;
      };
    };
    const rows: [string, { mbps: number; p50us: number; p99us: number }][] = [];
    // Alternated, twice each: the load of the host changes under a bench.
    for (let round = 0; round < 2; round++) {
      rows.push(["host loopback", await measure((a) => a)]);
      rows.push(["through the box", await measure((a) => net.wrap(a))]);
    }
    console.log(`\nload average: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
    console.log("path              MB/s     rtt p50 µs  rtt p99 µs");
    for (const [name, r] of rows) {
      console.log(
        `${name.padEnd(16)} ${r.mbps.toFixed(0).padStart(7)} ${r.p50us.toFixed(1).padStart(11)} ${
          r.p99us.toFixed(1).padStart(11)
        }`,
      );
    }
    const avg = (name: string, k: "mbps" | "p50us") =>
      rows.filter((r) => r[0] === name).reduce((s, r) => s + r[1][k], 0) / 2;
    console.log(
      `box/host: throughput ${
        (avg("through the box", "mbps") / avg("host loopback", "mbps")).toFixed(2)
      }x, ` +
        `rtt p50 ${(avg("through the box", "p50us") / avg("host loopback", "p50us")).toFixed(2)}x`,
    );
  } finally {
    await net.close();
    sink.close();
    echo.close();
    await served;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "box_net: with CHAOS_BOX_NETNS=1 a sandbox's pipeline runs in a namespace of its own",
  ignore: problem !== undefined || sandboxSupport() !== null,
}, async () => {
  const before = Deno.env.get("CHAOS_BOX_NETNS");
  Deno.env.set("CHAOS_BOX_NETNS", "1");
  const tmp = await Deno.makeTempDir({ prefix: "box-net-sandbox-test-" });
  const allowed = lineServer(ALLOWED);
  const other = lineServer(OTHER, "0.0.0.0");
  const box = await openSandbox({ source: tmp, bounds: { diskMb: 32, memoryMb: 128 } });
  let name = "";
  // Read anew each time (the asserts below would narrow a property read to what they saw).
  const netOf = (): BoxNet | undefined => box.net;
  const command = (wrapped: string[], stdout: "piped" | "null" = "piped") =>
    new Deno.Command(wrapped[0], {
      args: wrapped.slice(1),
      cwd: box.cwd,
      clearEnv: true,
      env: box.env(),
      stdout,
      stderr: "piped",
    });
  const run = (argv: string[]) => command(box.wrap(argv));
  try {
    // In it from the start: a component's argv is made before its pipeline policy is set.
    const net = netOf();
    assert.ok(net);
    name = net.name;
    const early = box.wrap([
      "bash",
      "-c",
      `readlink /proc/self/ns/net; id -u; ${hello("127.0.0.1", ALLOWED)}; ` +
      `(${hello("127.0.0.1", OTHER)}) 2>/dev/null || echo "no ${OTHER}"; ` +
      `(${hello(net.addresses.host, OTHER)}) 2>/dev/null || echo "no host end ${OTHER}"`,
    ]);
    await box.network({
      kind: "pipeline",
      endpoints: [`127.0.0.1:${ALLOWED}`],
      listen: [PUBLISHED],
    });
    const host = Deno.readLinkSync("/proc/self/ns/net");
    const o = await command(early).output();
    const out = new TextDecoder().decode(o.stdout).trim().split("\n");
    assert.notEqual(out[0], host, "its own network namespace");
    assert.equal(Number(out[1]), box.uid);
    assert.deepEqual(out.slice(2), [
      `port ${ALLOWED} peer 127.0.0.1: hi`,
      `no ${OTHER}`,
      `no host end ${OTHER}`,
    ]);
    // Its METRICS_PORT (the one port Landlock lets it bind), scraped at 127.0.0.1 by the host.
    const server = run([
      PYTHON,
      "-c",
      `
import socket
s = socket.socket(); s.bind(("127.0.0.1", ${PUBLISHED})); s.listen()
print("ready", flush=True)
c, a = s.accept(); c.sendall(b"metrics of the sink\\n"); c.close()`,
    ]).spawn();
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value ?? "", /ready/);
    assert.equal(await firstRead(PUBLISHED), "metrics of the sink\n");
    await reader.cancel();
    await server.stderr.cancel();
    assert.ok((await server.status).success);
    // Setup reaches the registries from the host's namespace; so does a box whose endpoints
    // lie off the loopback (said among the gaps); a pipeline policy again: its own namespace.
    const where = async () =>
      new TextDecoder().decode((await run(["readlink", "/proc/self/ns/net"]).output()).stdout)
        .trim();
    await box.network({ kind: "setup" });
    assert.equal(netOf(), undefined);
    assert.equal(await where(), host);
    await box.network({ kind: "pipeline", endpoints: ["10.9.9.9:9092"] });
    assert.equal(netOf(), undefined);
    assert.equal(await where(), host);
    assert.ok(sandboxGaps().some((g) => g.includes("10.9.9.9:9092")), sandboxGaps().join("\n"));
    await box.network({ kind: "pipeline", endpoints: [`127.0.0.1:${ALLOWED}`] });
    assert.equal(netOf(), net);
    assert.equal(await where(), out[0]);
  } finally {
    assert.deepEqual((await box.close()).survivors, []);
    await allowed.close();
    await other.close();
    await Deno.remove(tmp, { recursive: true });
    if (before === undefined) Deno.env.delete("CHAOS_BOX_NETNS");
    else Deno.env.set("CHAOS_BOX_NETNS", before);
  }
  assert.ok(netOf()?.closed);
  assert.deepEqual(await boxNetLeftovers(name), []);
});
