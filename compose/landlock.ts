/**
 * Landlock for a sandbox's box (compose/sandbox.ts): the boxes share this host's network
 * namespace, so without it a sink's box and a detector's box could talk over abstract unix
 * sockets (no file, no owner: the namespace is their only scope) or over a loopback port that
 * one binds while the harness's service on it is down. A small helper of the harness's (C,
 * built once with the host's `cc`) puts the box's command in a Landlock domain of its own
 * (kernel ABI 6+) before it execs it:
 *
 * - `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`: it connects or sends to no abstract unix socket made
 *   outside its domain (the other box's, the host's, the grader's); its own box's work.
 * - `LANDLOCK_SCOPE_SIGNAL`: it signals no process outside its domain.
 * - Given the ports it may bind (a component's box: its `METRICS_PORT`, nothing else: no
 *   explicit bind to port 0 either), `LANDLOCK_ACCESS_NET_BIND_TCP` refuses every other TCP
 *   bind: a box never listens where another box's firewall chain lets it connect. Read at start
 *   from a file of root's that `Sandbox.network` writes (`any`: unrestricted, setup's; `none`, or
 *   an empty file: no port at all). Refusing bind(0) keeps a box from hoarding the host's
 *   ephemeral ports in TIME_WAIT (a port that bind() took stays exclusive while its closed
 *   connection waits 60 s, owned by no uid, unseen by chaos/socket_guard.ts): connect() without a
 *   bind picks a shareable port, and listen() on an unbound socket a port the guard counts while
 *   it listens.
 * - A seccomp filter (after no_new_privs): `socket()`/`socketpair()` of MPTCP (262) or SCTP (132,
 *   also an inet `SOCK_SEQPACKET`'s default) fail with EPROTONOSUPPORT (Landlock's BIND_TCP
 *   checks TCP sockets only, so an MPTCP socket would bind any port, a killed service's, and
 *   answer its TCP clients); `io_uring_setup`/`_enter`/`_register` fail with ENOSYS (io_uring
 *   makes sockets where the filter sees no `socket()`); a syscall of another ABI (x32, a 32-bit
 *   entry) kills the process. Everything else is allowed.
 *
 * Fails closed: a helper that cannot make the domain or install the filter exits 126 and runs
 * nothing. Where the kernel has no Landlock ABI 6 (or no seccomp filter) or there is no `cc`,
 * `landlockHelper` says why and the box runs without it (a warning).
 *
 * ```ts
 * import { landlockHelper } from "./landlock.ts";
 * const helper = landlockHelper("/var/lib/chaos-sandbox");
 * if ("path" in helper) console.log([helper.path, "/var/lib/chaos-sandbox/61234/listen", "--", "bash"]);
 * ```
 * @module
 */

import { type CHelper, cHelper } from "./c_helper.ts";
import { run } from "./sandbox_error.ts";

/** The helper's C source: `chaos-landlock <ports file> -- cmd…`, or `chaos-landlock --abi`. */
export const HELPER_SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ruleset_attr { uint64_t fs; uint64_t net; uint64_t scoped; };
struct port_attr { uint64_t access; uint64_t port; } __attribute__((packed));
#define VERSION_FLAG 1U
#define BIND_TCP 1ULL
#define RULE_NET_PORT 2
#define SCOPE_ABSTRACT 1ULL
#define SCOPE_SIGNAL 2ULL
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

static int fail(const char *what) {
  fprintf(stderr, "chaos-landlock: %s: %s\n", what, strerror(errno));
  return 126;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "chaos-landlock: the filter reads the low word of an argument first (little-endian)"
#endif
#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "chaos-landlock: no seccomp filter for this architecture"
#endif
#define MPTCP 262
#define SCTP 132
#define ARG(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define STMT(code, k) BPF_STMT(code, k)
#define JUMP(code, k, t, f) BPF_JUMP(code, k, t, f)

/*
 * socket() and socketpair() of MPTCP or SCTP (by number, or SCTP as an inet SOCK_SEQPACKET's
 * default) fail with EPROTONOSUPPORT: Landlock's BIND_TCP sees only TCP sockets. io_uring fails
 * with ENOSYS (it makes and binds sockets where this filter sees no socket()). Another ABI (x32,
 * a 32-bit entry) kills the process. Only the low 32 bits of an argument count (the kernel's int).
 */
static int filter(void) {
  struct sock_filter code[] = {
    /* 0 */ STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    /* 1 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
    /* 2 */ STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    /* 3 */ STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
    /* 4 */ JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
#else
    /* 4 */ JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
#endif
    /* 5 */ STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    /* 6 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 6, 0),
    /* 7 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 5, 0),
    /* 8 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
    /* 9 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
    /* 10 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
    /* 11 */ STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    /* 12 */ STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    /* 13 */ STMT(BPF_LD | BPF_W | BPF_ABS, ARG(2)),
    /* 14 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, MPTCP, 9, 0),
    /* 15 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, SCTP, 8, 0),
    /* 16 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 6),
    /* 17 */ STMT(BPF_LD | BPF_W | BPF_ABS, ARG(1)),
    /* 18 */ STMT(BPF_ALU | BPF_AND | BPF_K, 0xf),
    /* 19 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_SEQPACKET, 0, 3),
    /* 20 */ STMT(BPF_LD | BPF_W | BPF_ABS, ARG(0)),
    /* 21 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0),
    /* 22 */ JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0),
    /* 23 */ STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    /* 24 */ STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPROTONOSUPPORT),
  };
  struct sock_fprog prog = { sizeof code / sizeof code[0], code };
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int main(int argc, char **argv) {
  long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, VERSION_FLAG);
  if (argc == 2 && strcmp(argv[1], "--abi") == 0) {
    printf("%ld\n", abi < 0 ? 0 : abi);
    return 0;
  }
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: chaos-landlock <ports file> -- command...\n");
    return 126;
  }
  if (abi < 6) { errno = ENOSYS; return fail("Landlock ABI 6 (scopes) is not available"); }
  char ports[4096] = "";
  FILE *f = fopen(argv[1], "r");
  if (!f) return fail(argv[1]);
  size_t n = fread(ports, 1, sizeof ports - 1, f);
  ports[n] = 0;
  fclose(f);
  int any = strncmp(ports, "any", 3) == 0;
  /* "none" (or nothing at all): BIND_TCP handled, no port given, so every TCP bind refused. */
  int none = strncmp(ports, "none", 4) == 0;
  struct ruleset_attr attr = { 0, any ? 0 : BIND_TCP, SCOPE_ABSTRACT | SCOPE_SIGNAL };
  int fd = syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0) return fail("landlock_create_ruleset");
  if (!any && !none) {
    char *save = NULL;
    for (char *t = strtok_r(ports, ", \n", &save); t; t = strtok_r(NULL, ", \n", &save)) {
      char *end;
      unsigned long p = strtoul(t, &end, 10);
      if (*end || p > 65535) { errno = EINVAL; return fail(t); }
      struct port_attr rule = { BIND_TCP, p };
      if (syscall(__NR_landlock_add_rule, fd, RULE_NET_PORT, &rule, 0)) return fail("add_rule");
    }
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return fail("no_new_privs");
  if (filter()) return fail("seccomp");
  if (syscall(__NR_landlock_restrict_self, fd, 0)) return fail("landlock_restrict_self");
  close(fd);
  execvp(argv[3], argv + 3);
  return fail(argv[3]);
}
`;

/**
 * The helper under `<base>/bin/` (root's, 0755: a box runs it by its path, cannot list the
 * folder), built when missing, or why there is none (no `cc`, no Landlock ABI 6).
 */
export function landlockHelper(base: string): Promise<CHelper> {
  return cHelper({
    base,
    name: "chaos-landlock",
    what: "the Landlock helper",
    source: HELPER_SOURCE,
    mode: 0o755,
    check: (path) => {
      const abi = Number(run(path, ["--abi"]).out);
      if (abi < 6 || !abi) {
        return `this kernel's Landlock ABI is ${abi || "absent"} (6 scopes ` +
          "abstract unix sockets): the boxes can reach each other's abstract sockets";
      }
      // The whole domain and the seccomp filter, once (an empty ports file: no port at all).
      const tried = run(path, ["/dev/null", "--", "true"]);
      return tried.code === 0 ? undefined : `the Landlock helper cannot make its domain here ` +
        `(exit ${tried.code}: ${tried.out}): the boxes run without it`;
    },
  });
}
