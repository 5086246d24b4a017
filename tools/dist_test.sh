#!/usr/bin/env bash
# Distributed evaluation with torchrun (torch.distributed.run).
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options ...]
#
# GPUS is the number of processes on this machine (one per GPU; on a CPU-only machine, processes that
# communicate over gloo). Multi-machine: run the same command on every machine with
#   NNODES      number of machines (default 1)
#   NODE_RANK   this machine's index, 0 .. NNODES-1 (default 0)
#   MASTER_ADDR address of machine 0 (default 127.0.0.1)
#   PORT        a free TCP port on machine 0 (default 29500; change it to run two jobs at once)
# PYTHON picks the interpreter (default: `python` on PATH); TOOL the tool of tools/ to run (default
# test.py; TOOL=pseudo_label.py writes pseudo-labels with every process: --images ... --out ...).
# Example, 8 GPUs, teacher and student:
#   bash tools/dist_test.sh configs/soft_teacher/CONFIG.py work_dirs/x/iter_180000.pth 8 --model both
set -euo pipefail

usage() {
    echo "usage: bash $0 CONFIG CHECKPOINT GPUS [tools/test.py options ...]" >&2
    echo "  env: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500), PYTHON (python)" >&2
    exit 2
}
[ $# -ge 3 ] || usage
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
[[ $GPUS =~ ^[1-9][0-9]*$ ]] || { echo "error: GPUS must be a positive integer, got '$GPUS'" >&2; usage; }

NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOL=${TOOL:-test.py}
[ -f "$TOOLS_DIR/$TOOL" ] || { echo "error: TOOL=$TOOL is not a script in $TOOLS_DIR (e.g. test.py, pseudo_label.py)" >&2; exit 2; }

export PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$TOOLS_DIR/$TOOL" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
