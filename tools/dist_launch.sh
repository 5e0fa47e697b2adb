#!/usr/bin/env bash
# Shared torchrun launcher of dist_train.sh and dist_test.sh:
#   bash tools/dist_launch.sh NUM_PROCESSES SCRIPT [SCRIPT arguments]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun; PYTHON picks the interpreter.
set -euo pipefail
NPROC=$1
shift
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" "$@" --launcher pytorch
