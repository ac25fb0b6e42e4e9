/**
 * Which sockets of the host's network namespace each uid holds, as the kernel's `sock_diag`
 * netlink answers (a small helper of the harness's, C, built once with the host's `cc` like the
 * Landlock one: landlock.ts): every TCP and UDP socket over IPv4 and IPv6 in every state, also a
 * TCP socket bound without listening or connecting (the kernel walks its bind table for it, Linux
 * 6.5+) that `/proc/net/tcp` does not list, and whether or not a descriptor holds it (a socket in
 * flight in a unix socket's queue, an io_uring's fixed file). The run's socket guard
 * (chaos/socket_guard.ts) counts a box's sockets with it.
 *
 * ```ts
 * import { diagSockets, socketDiagHelper } from "./socket_diag.ts";
 * const helper = await socketDiagHelper("/var/lib/chaos-sandbox");
 * if ("path" in helper) console.log(await diagSockets(helper.path, [61234])); // Map { 61234 => Set {…} }
 * ```
 * @module
 */

import { type CHelper, cHelper } from "./c_helper.ts";
import { run } from "./sandbox_error.ts";

/** The helper's C source: `chaos-sockets <uid>…` prints `<uid> <inode> <state>` per socket. */
export const DIAG_SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>

static int nuids; static unsigned *uids;

static int dump(int family, int protocol) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -1;
  struct { struct nlmsghdr nh; struct inet_diag_req_v2 r; } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = family;
  req.r.sdiag_protocol = protocol;
  req.r.idiag_states = 0xffffffffU; /* every state, bound-only TCP sockets (13) too */
  if (send(fd, &req, sizeof req, 0) < 0) { close(fd); return -1; }
  static char buf[1 << 16];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) { if (errno == EINTR) continue; close(fd); return -1; }
    if (n == 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) { close(fd); return 0; }
      if (h->nlmsg_type == NLMSG_ERROR) { close(fd); errno = EPROTO; return -1; }
      struct inet_diag_msg *m = NLMSG_DATA(h);
      for (int i = 0; i < nuids; i++)
        if (m->idiag_uid == uids[i]) { printf("%u %u %d\n", m->idiag_uid, m->idiag_inode, m->idiag_state); break; }
    }
  }
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  nuids = argc - 1;
  uids = calloc(nuids + 1, sizeof *uids);
  for (int i = 0; i < nuids; i++) uids[i] = strtoul(argv[i + 1], 0, 10);
  int fams[] = {AF_INET, AF_INET6}, protos[] = {IPPROTO_TCP, IPPROTO_UDP};
  for (int f = 0; f < 2; f++) for (int p = 0; p < 2; p++)
    if (dump(fams[f], protos[p]) < 0 && !(fams[f] == AF_INET6 && errno == ENOENT)) {
      fprintf(stderr, "chaos-sockets: dump %d/%d: %s\n", fams[f], protos[p], strerror(errno)); return 1;
    }
  return 0;
}
`;

/**
 * The helper under `<base>/bin/` (root's alone, 0700), built when missing and tried once, or why
 * there is none (no `cc`, no sock_diag).
 */
export function socketDiagHelper(base: string): Promise<CHelper> {
  return cHelper({
    base,
    name: "chaos-sockets",
    what: "the socket helper",
    source: DIAG_SOURCE,
    mode: 0o700,
    check: (path) => {
      const probe = run(path, ["0"]);
      return probe.code === 0 ? undefined : `the socket helper cannot dump sockets: ${probe.out}`;
    },
  });
}

/** The helper's output parsed: uid → socket inodes (lines of other uids or malformed skipped). */
export function parseDiag(text: string, uids: ReadonlySet<number>): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>();
  for (const line of text.split("\n")) {
    const [uid, inode] = line.trim().split(" ").map(Number);
    if (!uids.has(uid) || !Number.isInteger(inode) || inode <= 0) continue;
    let set = out.get(uid);
    if (!set) out.set(uid, set = new Set());
    set.add(inode);
  }
  return out;
}

/** The TCP and UDP sockets of `uids` (uid → inodes), as the helper at `path` reads them. */
export async function diagSockets(
  path: string,
  uids: readonly number[],
): Promise<Map<number, Set<number>>> {
  const out = await new Deno.Command(path, {
    args: uids.map(String),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `the socket helper exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return parseDiag(new TextDecoder().decode(out.stdout), new Set(uids));
}
