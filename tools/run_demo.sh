#!/usr/bin/env bash
# The body of `make demo` (after setup and data generation): train and evaluate the demo
# detector and segmentor on CPU, then run the inference APIs and draw the results.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
export MMVITPLUG_DEMO_DATA="${DEMO_DATA:-data/demo}"
WORK="${DEMO_WORK_DIR:-work_dirs/demo}"
DET_CONFIG=configs/demo/cascade_mask_rcnn_demo.py
SEG_CONFIG=configs/demo/upernet_demo.py
START=$SECONDS

step() { printf '\n[demo %4ds] %s\n' "$((SECONDS - START))" "$*"; }

step "training Cascade Mask R-CNN on the demo dataset ($DET_CONFIG) -> $WORK/det"
"$PY" tools/train.py "$DET_CONFIG" --work-dir "$WORK/det"
DET_CKPT="$(cat "$WORK/det/last_checkpoint")"
step "evaluating $DET_CKPT (COCO bbox / segm mAP)"
"$PY" tools/test.py "$DET_CONFIG" "$DET_CKPT" --work-dir "$WORK/det/test"

step "training UPerNet on the demo dataset ($SEG_CONFIG) -> $WORK/seg"
"$PY" tools/train.py "$SEG_CONFIG" --work-dir "$WORK/seg"
SEG_CKPT="$(cat "$WORK/seg/last_checkpoint")"
step "evaluating $SEG_CKPT (mIoU)"
"$PY" tools/test.py "$SEG_CONFIG" "$SEG_CKPT" --work-dir "$WORK/seg/test"

step "inference APIs on a validation image"
"$PY" tools/demo_inference.py \
    --det "$DET_CONFIG" "$DET_CKPT" --seg "$SEG_CONFIG" "$SEG_CKPT" \
    --image "$MMVITPLUG_DEMO_DATA/coco/val/000000.jpg" --out-dir "$WORK" \
    --metrics "$WORK/det/test/test_metrics.json" "$WORK/seg/test/test_metrics.json"
step "demo finished"
