#!/usr/bin/env bash
# Recalibrate the packaged thresholds (docs/thresholds.md, "The packaged files") with the policy of
# `codec-conformance calibrate`: smoke profile, seeds 0-4, every limit = worst across seeds + margin.
# Stages can run one at a time (each writes its runs under $OUT):
#   scripts/recalibrate.sh top        # the six calibrated codecs at their top bitrate, every suite
#   scripts/recalibrate.sh lower      # their other bitrates: linearity, frequency response, tokens
#   scripts/recalibrate.sh anchors    # the default's anchors: MNRU Q=20 dB (ladder:mnru20), Opus 6 kbps
#   scripts/recalibrate.sh write      # calibrate from whatever runs exist, into the package
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-calibration-runs}
SEEDS=${SEEDS:-"0 1 2 3 4"}
CODECS="--codec=opus --codec=mulaw --codec=amrnb --codec=g722 --codec=mp3 --codec=lyra"
CHEAP="additivity or homogeneity or frequency_response or token"
run() {  # run NAME SEED ARGS...: one measure-only smoke run, its folder $OUT/NAME-sSEED
    local name=$1 seed=$2; shift 2
    [ -f "$OUT/$name-s$seed/latest/results.json" ] && return 0
    python -m pytest suites/ "$@" --codec-seed="$seed" --codec-measure-only -n 2 -q -p no:randomly \
        --codec-report-dir="$OUT/$name-s$seed" > "$OUT/$name-s$seed.log" 2>&1 || true
    [ -f "$OUT/$name-s$seed/latest/results.json" ] || { echo "no results: $OUT/$name-s$seed.log" >&2; exit 1; }
}
mkdir -p "$OUT"
case "${1:-}" in
  top)     for s in $SEEDS; do run top "$s" $CODECS; done ;;
  lower)   for s in $SEEDS; do
               run lower "$s" --codec=opus --codec=amrnb --codec=mp3 --codec=lyra --codec-bitrate=all -k "$CHEAP"
           done ;;
  anchors) for s in $SEEDS; do
               run mnru20 "$s" --codec=ladder:mnru20 -k "noise or frequency_response"
               run opus64 "$s" --codec=opus -k "frequency_response"
               run opus6 "$s" --codec=opus --codec-bitrate=6 -k "additivity or homogeneity"
           done ;;
  write)   python -m codec_conformance.cli calibrate "$OUT"/top-s*/latest "$OUT"/lower-s*/latest \
               -o thresholds
           python scripts/calibrate_default.py "$OUT" ;;
  *)       sed -n 2,9p "$0"; exit 2 ;;
esac
