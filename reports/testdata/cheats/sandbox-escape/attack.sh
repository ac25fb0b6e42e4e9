#!/usr/bin/env bash
# A hostile submission's attacks on the grader (reports/grade_test.ts): each prints
# "ATTACK <phase> <name> ok|blocked" to stderr; every one must be blocked by the sandbox.
phase=$1
echo "ATTACK $phase runs as uid $(id -u)" >&2
repo=$(cd ../../../.. && pwd)
try() {
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ATTACK $phase $name ok" >&2; else echo "ATTACK $phase $name blocked" >&2; fi
}
# Rewrite the harness's checker, the cache, the Deno binary, a run folder.
try write-harness sh -c "echo '// pwned' >>'$repo/validate/object_check.ts'"
try write-runs sh -c "mkdir -p '$repo/reports/runs' && touch '$repo/reports/runs/pwned'"
try write-cache sh -c 'touch "${DENO_DIR:-$HOME/.cache/deno}/pwned"'
try write-deno sh -c 'touch "$(dirname "$(command -v deno)")/pwned"'
try write-grader-home touch /root/pwned
# The grader's environment and processes.
try read-parent-environ sh -c 'tr "\0" "\n" </proc/$PPID/environ | grep -q "^HOME=/root"'
try see-grader sh -c 'grep -l "cli_gra[d]e" /proc/[0-9]*/cmdline'
try find-harness-cwd sh -c 'for p in /proc/[0-9]*; do [ "$(readlink $p/cwd)" = "'"$repo"'" ] && exit 0; done; exit 1'
# A port that is not an endpoint: the Toxiproxy API (Redis's port + 10 on the local stack), ssh.
if [ -n "$REDIS_URL" ]; then
  rport=${REDIS_URL##*:}
  try reach-toxiproxy timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$((rport + 10))"
fi
try reach-ssh timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22'
# A daemon that outlives the grade, rewriting what it can.
setsid -f sh -c 'while :; do touch /tmp/sandbox-escape-daemon-alive 2>/dev/null; sleep 1; done' chaos-sandbox-escape-daemon </dev/null >/dev/null 2>&1
echo "ATTACK $phase daemon started" >&2
