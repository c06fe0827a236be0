#!/bin/bash
# experiments/data/topology.sh, filled in by experiments/kinds/topology.py (the __X__ values).
# Timings are STUDY-TIMING {json} lines; the overlay tree sits between the TOPOLOGY markers.
set -u
# Each __X__ is replaced by one shell-quoted word (shlex.quote), so no value can break out.
SIZE_BYTES=__SIZE__; PAYLOAD=__PAYLOAD__; DESIGN=__DESIGN__; NODES=__NODES__
LEAVES=__LEAVES__; MIDDLE=__MIDDLE__; URL=__URL__; PURGE=__PURGE__
mkdir -p /tmp/study-src
timed() {
  local event=$1; shift
  local t0=$(date +%s.%N); "$@"; local rc=$?; local t1=$(date +%s.%N)
  local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  printf 'STUDY-TIMING {"event": "%s", "design": "%s", "nodes": %s, "size_bytes": %s, ' \
    "$event" "$DESIGN" "$NODES" "$SIZE_BYTES"
  printf '"payload": "%s", "rc": %s, "seconds": %s}\n' "$PAYLOAD" "$rc" "$secs"
}
clean() { flux exec -r all rm -rf /tmp/study-dst; flux exec -r all mkdir -p /tmp/study-dst; }
echo "NODES"; echo "$NODES"
echo "TOPOLOGY diagram"; flux overlay status; echo "TOPOLOGY description"; echo "$DESIGN"
if [ -n "$PURGE" ]; then
  flux exec -r all flux setattr content.purge-target-size "$PURGE" \
    || echo "STUDY-WARNING content.purge-target-size could not be set"
fi
if [ "$PAYLOAD" = zeros ]; then SRC=/dev/zero; else SRC=/dev/urandom; fi
generate() { head -c "$SIZE_BYTES" "$SRC" > /tmp/study-src/payload.bin; }
timed generate-payload generate
clean
timed create-archive flux archive create --name study --dir /tmp/study-src payload.bin
timed distribute-all-nodes flux exec -r all -x 0 flux archive extract --name study \
  -C /tmp/study-dst
timed clean-all-nodes clean
EXTRACT="flux archive extract --name study -C /tmp/study-dst"
timed distribute-leaf-nodes flux exec -r "$LEAVES" -x 0 $EXTRACT
timed clean-leaf-nodes clean
if [ -n "$MIDDLE" ]; then
  timed distribute-middle-nodes flux exec -r "$MIDDLE" $EXTRACT
  timed distribute-middle-then-leaf-nodes flux exec -r "$LEAVES" -x 0 $EXTRACT
  timed clean-middle-nodes clean
fi
timed delete-archive flux archive remove --name study
flux exec -r all flux content dropcache >/dev/null 2>&1 || true
if [ -n "$URL" ]; then
  timed direct-download-all-nodes flux exec -r all -x 0 \
    curl -sSf -o /tmp/study-dst/payload.bin "$URL"
  timed clean-direct-download clean
fi
rm -f /tmp/study-src/payload.bin
