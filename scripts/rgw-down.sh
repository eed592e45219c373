#!/usr/bin/env bash
# rgw-down.sh <workdir> : stop the daemons started by rgw-up.sh <workdir> (by their pid files only),
# in the order radosgw, osd, mon; each gets up to 10 s after SIGTERM before SIGKILL.
# The workdir is left for the caller to remove.
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 <workdir>" >&2; exit 2; fi
D=$(realpath -m "$1")
# alive and not a zombie (a container's pid 1 may never reap daemonized children)
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }
stop() {  # stop <name> <executable> <signal>
  local f="$D/run/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  rm -f "$f"
  case "$pid" in ''|*[!0-9]*) return 0 ;; esac
  # never signal a recycled pid: it must still be the daemon we started
  [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || true)")" = "$2" ] || return 0
  kill -"$3" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
# radosgw lingers ~5 s on SIGTERM and its state is throwaway (memstore): SIGKILL it.
stop client.rgw radosgw KILL
# the OSD first (it reports to the mon on the way down; with the mon gone it waits ~5 s)
stop osd.0 ceph-osd TERM
stop mon.a ceph-mon TERM
