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
 * - Given the ports it may bind (a component's box: its `METRICS_PORT`; 0, an ephemeral port,
 *   always), `LANDLOCK_ACCESS_NET_BIND_TCP` refuses every other TCP bind: a box never listens
 *   where another box's firewall chain lets it connect. Read at start from a file of root's
 *   that `Sandbox.network` writes (`any`: unrestricted).
 *
 * Fails closed: a helper that cannot make the domain exits 126 and runs nothing. Where the
 * kernel has no Landlock ABI 6 or there is no `cc`, `landlockHelper` says why and the box runs
 * without it (a warning).
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
  struct ruleset_attr attr = { 0, any ? 0 : BIND_TCP, SCOPE_ABSTRACT | SCOPE_SIGNAL };
  int fd = syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0) return fail("landlock_create_ruleset");
  if (!any) {
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
      return abi >= 6 ? undefined : `this kernel's Landlock ABI is ${abi || "absent"} (6 scopes ` +
        "abstract unix sockets): the boxes can reach each other's abstract sockets";
    },
  });
}
