#!/bin/sh
# Upload one finished step's results to the run's bucket prefix with the cloud's own CLI
# (gcloud storage cp on GKE, aws s3 cp on EKS; credentials from the pod's workload identity,
# never a key). MANIFEST.json goes last: a step is "in the bucket" exactly when its manifest is
# there and matches. Every value comes from the environment and is quoted; nothing is eval'd.
set -eu
: "${RESULTS_URL:?RESULTS_URL is not set}" "${STEP:?STEP is not set}"
RESULTS_DIR="${RESULTS_DIR:-/results}"

case "$STEP" in
  '' | -* | *[!a-z0-9-]*) echo "upload: STEP='$STEP' is not a DNS-1123 label" >&2; exit 2 ;;
esac
case "$RESULTS_URL" in
  *[!A-Za-z0-9./:_-]*) echo "upload: RESULTS_URL='$RESULTS_URL' has characters outside [A-Za-z0-9./:_-] (is RUN_ID set?)" >&2; exit 2 ;;
  gs://?*/?*/?*/) cli=gcloud ;;
  s3://?*/?*/?*/) cli=aws ;;
  *) echo "upload: RESULTS_URL='$RESULTS_URL' must be gs://BUCKET/STACK/RUN_ID/ or s3://BUCKET/STACK/RUN_ID/" >&2; exit 2 ;;
esac

src="$RESULTS_DIR/steps/$STEP"
dest="${RESULTS_URL}steps/$STEP"
if [ ! -f "$src/MANIFEST.json" ]; then
  echo "upload: $src/MANIFEST.json is missing: the step's recorder did not finish" >&2
  exit 1
fi

put() {
  if [ "$cli" = gcloud ]; then
    # Objects are immutable once written (objectCreator): a retried upload skips what exists.
    gcloud storage cp --no-clobber "$1" "$2"
  else
    aws s3 cp --only-show-errors "$1" "$2"
  fi
}

for name in log.txt status.json checks.json events.jsonl; do
  put "$src/$name" "$dest/$name"
done
put "$src/MANIFEST.json" "$dest/MANIFEST.json"
echo "uploaded step $STEP to $dest/"
