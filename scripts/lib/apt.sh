# apt_get ARGS...: apt-get that waits for another apt or dpkg on the machine instead of failing.
# Sourced by scripts/bootstrap.sh and scripts/build-k8s.sh. DPkg::Lock::Timeout makes installs wait for
# the dpkg lock; `apt-get update` takes the lists lock, which no option makes it wait for, so a busy lock
# ("Could not get lock") is waited out here for up to 10 minutes. Any other failure returns at once.
apt_get() {
  local sudo="" out rc
  [ "$(id -u)" = 0 ] || sudo="sudo"
  for _ in $(seq 60); do
    rc=0
    out=$($sudo apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1) || rc=$?
    printf '%s\n' "$out" >&2
    if [ "$rc" = 0 ] || ! grep -q "Could not get lock" <<<"$out"; then
      return "$rc"
    fi
    echo "[apt] another apt or dpkg holds a lock; waiting 10 s" >&2
    sleep 10
  done
  return "$rc"
}
