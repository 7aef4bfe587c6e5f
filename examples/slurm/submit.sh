#!/usr/bin/env bash
# Submit a sharded conformance run to Slurm (docs/slurm.md): one array job (a task per shard, one
# GPU each), then the merge job, which starts when every task succeeded (afterok) and is
# cancelled if one fails (--kill-on-invalid-dep). Prints "<array job id> <merge job id>".
#
#   OUT=/shared/conformance NUM_SHARDS=4 PYTHON=$PWD/.venv/bin/python \
#   CONFORMANCE_ARGS="--codec=dac --codec-profile=paper --codec-evaluators=paper" examples/slurm/submit.sh
#
# Environment: OUT (required), NUM_SHARDS (default 4), GPUS_PER_SHARD (default 1; 0 on a cluster
# without GPUs: no --gres at all), SBATCH_ARGS (e.g. "--partition=gpu --time=04:00:00
# --account=..."), and PYTHON, SUITES, CONFORMANCE_ARGS, SHARD_COSTS for the tasks
# (conformance-array.sbatch). Run it from the folder the suites' paths are relative to.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
: "${OUT:?set OUT to the output folder (shared by the nodes)}"
N="${NUM_SHARDS:-4}"
GPUS="${GPUS_PER_SHARD:-1}"
read -r -a extra <<<"${SBATCH_ARGS:-}"
gres=()
[ "$GPUS" -gt 0 ] && gres=("--gres=gpu:$GPUS")

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export OUT NUM_SHARDS="$N"
array=$(sbatch --parsable --export=ALL --array="0-$((N - 1))" "${gres[@]}" \
    --output="$OUT/slurm-%A_%a.out" "${extra[@]}" "$here/conformance-array.sbatch")
array="${array%%;*}"  # --parsable: <job id>[;<cluster>]
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --output="$OUT/slurm-merge-%j.out" "${extra[@]}" "$here/conformance-merge.sbatch")
merge="${merge%%;*}"
echo "$array $merge"
