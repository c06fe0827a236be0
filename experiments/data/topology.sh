#!/bin/bash
# experiments/data/topology.sh, filled in by experiments/kinds/topology.py (the __X__ values).
# One MiniCluster runs every size in order, and for each size the events in the order given.
# Timings are STUDY-TIMING {json} lines; the overlay tree sits between the TOPOLOGY markers.
set -u
set -f  # the lists are data: no globbing when they are split into words
# Each __X__ is replaced by one shell-quoted word (shlex.quote), so no value can break out.
# SIZES: "<bytes>:<file>" per size; the file is in PAYLOAD_DIR (payload=image) or generated.
SIZES=__SIZES__; PAYLOAD=__PAYLOAD__; PAYLOAD_DIR=__PAYLOAD_DIR__; EVENTS=__EVENTS__
DESIGN=__DESIGN__; NODES=__NODES__; LEAVES=__LEAVES__; MIDDLE=__MIDDLE__; URL=__URL__
PURGE=__PURGE__; SETTLE=__SETTLE__
mkdir -p /tmp/study-src
SIZE_BYTES=0; OCCURRENCE=1
timed() {
  local event=$1; shift
  local t0=$(date +%s.%N); "$@"; local rc=$?; local t1=$(date +%s.%N)
  local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  printf 'STUDY-TIMING {"event": "%s", "design": "%s", "nodes": %s, "size_bytes": %s, ' \
    "$event" "$DESIGN" "$NODES" "$SIZE_BYTES"
  printf '"payload": "%s", "occurrence": %s, "rc": %s, "seconds": %s}\n' \
    "$PAYLOAD" "$OCCURRENCE" "$rc" "$secs"
}
clean() { flux exec -r all rm -rf /tmp/study-dst; flux exec -r all mkdir -p /tmp/study-dst; }
echo "NODES"; echo "$NODES"
echo "TOPOLOGY diagram"; flux overlay status; echo "TOPOLOGY description"; echo "$DESIGN"
if [ -n "$PURGE" ]; then
  flux exec -r all flux setattr content.purge-target-size "$PURGE" \
    || echo "STUDY-WARNING content.purge-target-size could not be set"
fi
if [ "$PAYLOAD" = zeros ]; then SRC=/dev/zero; else SRC=/dev/urandom; fi
EXTRACT="flux archive extract --name study -C /tmp/study-dst"
clean
for item in $SIZES; do
  SIZE_BYTES=${item%%:*}; FILE=${item#*:}
  if [ "$PAYLOAD" = image ]; then
    DIR=$PAYLOAD_DIR
  else
    DIR=/tmp/study-src
    OCCURRENCE=1
    timed generate-payload sh -c 'head -c "$1" "$2" > "$3"' sh "$SIZE_BYTES" "$SRC" "$DIR/$FILE"
  fi
  done_events=" "
  for ev in $EVENTS; do
    # The how-manieth time this event runs at this size (the seed re-creates the archive
    # before its leaf and middle distributions).
    OCCURRENCE=$(( $(printf '%s' "$done_events" | tr ' ' '\n' | grep -cx -- "$ev") + 1 ))
    done_events="$done_events$ev "
    case "$ev" in
      create-archive) timed "$ev" flux archive create --name study --dir "$DIR" "$FILE" ;;
      distribute-all-nodes) timed "$ev" flux exec -r all -x 0 $EXTRACT ;;
      distribute-leaf-nodes) timed "$ev" flux exec -r "$LEAVES" -x 0 $EXTRACT ;;
      distribute-middle-nodes)
        if [ -n "$MIDDLE" ]; then timed "$ev" flux exec -r "$MIDDLE" $EXTRACT; fi ;;
      distribute-middle-then-leaf-nodes)
        if [ -n "$MIDDLE" ]; then timed "$ev" flux exec -r "$LEAVES" -x 0 $EXTRACT; fi ;;
      clean-all-nodes|clean-leaf-nodes|clean-middle-nodes) timed "$ev" clean ;;
      delete-archive) timed "$ev" flux archive remove --name study ;;
      *) echo "STUDY-WARNING unknown event $ev" ;;
    esac
    if [ "$ev" != create-archive ] && [ "$SETTLE" != 0 ]; then sleep "$SETTLE"; fi
  done
  if [ -n "$URL" ]; then
    flux exec -r all flux content dropcache >/dev/null 2>&1 || true
    OCCURRENCE=1
    timed direct-download-all-nodes flux exec -r all -x 0 \
      curl -sSf -o /tmp/study-dst/payload.bin "$URL/$SIZE_BYTES"
    timed clean-direct-download clean
  fi
  if [ "$PAYLOAD" != image ]; then rm -f "/tmp/study-src/$FILE"; fi
done
