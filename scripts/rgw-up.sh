#!/usr/bin/env bash
# rgw-up.sh <workdir> <s3-port> [<mon-port>]
# A throwaway single-node Ceph cluster serving S3 on 127.0.0.1:<s3-port>:
# 1 mon (msgr v2 on <mon-port>, a free port if omitted) + 1 memstore OSD + radosgw, cephx auth, no mgr.
# Lifecycle is enforced fast: `rgw lc debug interval = 10` makes one "day" last 10 seconds.
# Run it in its own session (setsid): the daemons fork into the background. Stop with rgw-down.sh <workdir>.
# Prints "S3_ENDPOINT=... S3_ACCESS_KEY=... S3_SECRET_KEY=..." and writes them to <workdir>/endpoint.env.
# Optional: RGW_MEMSTORE_BYTES (the in-memory OSD's size, default 1 GiB), RGW_FRONTEND_OPTIONS (added to
# the beast frontend line, e.g. tcp_nodelay=1).
# Needs: apt-get install ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: $0 <workdir> <s3-port> [<mon-port>]" >&2; exit 2; fi
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(realpath -m "$1"); PORT=$2; MON_PORT=${3:-}
ACCESS_KEY=${RGW_ACCESS_KEY:-testkey}; SECRET_KEY=${RGW_SECRET_KEY:-testsecret}
START_TIMEOUT=${RGW_START_TIMEOUT:-90}
for b in ceph-mon ceph-osd radosgw ceph-authtool monmaptool ceph radosgw-admin curl; do
  command -v "$b" >/dev/null || { echo "rgw-up: '$b' not found (apt-get install ceph-mon ceph-osd radosgw ceph-common curl)" >&2; exit 3; }
done
if [ -z "$MON_PORT" ]; then
  MON_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
newuuid() { if command -v uuidgen >/dev/null; then uuidgen; else cat /proc/sys/kernel/random/uuid; fi; }
log() { echo "[rgw-up $(date +%T)] $*" >&2; }

# a previous instance in the same dir: stop it and clear only what this script creates
if [ -f "$D/ceph.conf" ]; then "$HERE/rgw-down.sh" "$D" || true; fi
rm -rf "$D/run" "$D/log" "$D/mon.a" "$D/osd.0" "$D/ceph.conf" "$D/keyring" "$D/monmap" "$D/rgw.keyring" "$D/endpoint.env"
mkdir -p "$D/run" "$D/log" "$D/mon.a" "$D/osd.0"

ok=0
cleanup() { if [ "$ok" != 1 ]; then log "start failed; stopping daemons (logs in $D/log)"; "$HERE/rgw-down.sh" "$D" || true; fi; }
trap cleanup EXIT

FSID=$(newuuid); OSD_UUID=$(newuuid)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public addr = 127.0.0.1
auth allow insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
run dir = $D/run
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
keyring = $D/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd pool default pg autoscale mode = off
# commit monitor map changes at once instead of batching them for 1 s: radosgw creates its pools
# one after the other at start and on first use; this makes start ~2 s instead of ~12 s
paxos propose interval = 0.05
paxos min wait = 0.01
osd objectstore = memstore
memstore device bytes = ${RGW_MEMSTORE_BYTES:-1073741824}
osd data = $D/osd.\$id
mon data = $D/mon.\$id
client mount timeout = 30
rados mon op timeout = 30
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT${RGW_FRONTEND_OPTIONS:+ $RGW_FRONTEND_OPTIONS}
rgw lc debug interval = 10
rgw enable lc threads = true
CONF
export CEPH_CONF="$D/ceph.conf"
CEPH=(ceph --connect-timeout 30)

log "mon (v2 port $MON_PORT)"
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
ceph-mon -i a                                              # daemonizes

log "osd"
"${CEPH[@]}" osd new "$OSD_UUID" >/dev/null                # -> osd.0
ceph-osd -i 0 --mkfs --mkkey --no-mon-config --osd-uuid "$OSD_UUID" --keyring "$D/osd.0/keyring" 2>"$D/log/osd-mkfs.err"
"${CEPH[@]}" auth add osd.0 osd 'allow *' mon 'allow profile osd' -i "$D/osd.0/keyring" 2>/dev/null
ceph-osd -i 0 --keyring "$D/osd.0/keyring"                 # daemonizes

log "radosgw (S3 port $PORT)"
"${CEPH[@]}" auth get-or-create client.rgw mon 'allow rw' osd 'allow rwx' > "$D/rgw.keyring"
radosgw -n client.rgw --keyring "$D/rgw.keyring"           # daemonizes

deadline=$((SECONDS + START_TIMEOUT))
until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do
  if [ "$SECONDS" -ge "$deadline" ]; then log "radosgw not answering on port $PORT after ${START_TIMEOUT}s"; exit 1; fi
  sleep 0.2
done
radosgw-admin user create --uid=test --display-name=test --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\n' "$PORT" "$ACCESS_KEY" "$SECRET_KEY" | tee "$D/endpoint.env"
ok=1
