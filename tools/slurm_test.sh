#!/usr/bin/env bash
# Evaluation on a Slurm cluster: one srun step, one task per GPU, ranks set up by `--launcher slurm`.
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#       bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options ...]
#
#   GPUS           total tasks (= GPUs) of the job (default 8)
#   GPUS_PER_NODE  tasks and GPUs per machine (default 8; set it to GPUS for fewer than 8 GPUs)
#   CPUS_PER_TASK  CPU cores per task, e.g. for data loader workers (default 5)
#   SRUN_ARGS      extra srun options, split on spaces, e.g. "--time=1:00:00 --qos=high"
#   MASTER_PORT    rendezvous port on the first node (default 29500; set it when two jobs share a node)
#   PYTHON         interpreter (default: `python` on PATH)
#   TOOL           the tool of tools/ to run (default test.py); TOOL=pseudo_label.py labels unlabeled
#                  images with the checkpoint on every task (options: --images ... --out ...)
# Everything after CHECKPOINT goes to the tool unchanged, e.g. --model both --out results.pkl.
set -euo pipefail

usage() {
    echo "usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options ...]" >&2
    echo "  env: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS, MASTER_PORT, PYTHON" >&2
    exit 2
}
[ $# -ge 4 ] || usage
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4

GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
PYTHON=${PYTHON:-python}
for name in GPUS GPUS_PER_NODE CPUS_PER_TASK; do
    if ! [[ ${!name} =~ ^[1-9][0-9]*$ ]]; then
        echo "error: $name must be a positive integer, got '${!name}'" >&2
        usage
    fi
done
read -r -a EXTRA_SRUN_ARGS <<< "${SRUN_ARGS:-}"
TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOL=${TOOL:-test.py}
[ -f "$TOOLS_DIR/$TOOL" ] || { echo "error: TOOL=$TOOL is not a script in $TOOLS_DIR (e.g. test.py, pseudo_label.py)" >&2; exit 2; }

export PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}"
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${EXTRA_SRUN_ARGS[@]+"${EXTRA_SRUN_ARGS[@]}"} \
    "$PYTHON" -u "$TOOLS_DIR/$TOOL" "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
