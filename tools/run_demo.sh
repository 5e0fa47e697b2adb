#!/usr/bin/env bash
# The body of `make demo` (after setup and data generation): train and evaluate the demo
# detector (FasterViT-0) and one segmentor per family (FasterViT-0, BiFormer-T, LITv2-S) on CPU,
# all trained from scratch, then run the inference APIs, draw the results and draw where the
# trained backbones' attention looks (tools/visualize_attention.py).
# SEG_FAMILIES="fastervit" trains one segmentor only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
export MMVITPLUG_DEMO_DATA="${DEMO_DATA:-data/demo}"
WORK="${DEMO_WORK_DIR:-work_dirs/demo}"
DET_CONFIG=configs/demo/cascade_mask_rcnn_demo.py
SEG_FAMILIES="${SEG_FAMILIES:-fastervit biformer litv2}"
START=$SECONDS

step() { printf '\n[demo %4ds] %s\n' "$((SECONDS - START))" "$*"; }

step "training Cascade Mask R-CNN on the demo dataset ($DET_CONFIG) -> $WORK/det"
"$PY" tools/train.py "$DET_CONFIG" --work-dir "$WORK/det"
DET_CKPT="$(cat "$WORK/det/last_checkpoint")"
step "evaluating $DET_CKPT (COCO bbox / segm mAP)"
"$PY" tools/test.py "$DET_CONFIG" "$DET_CKPT" --work-dir "$WORK/det/test"

SEG_METRICS=()
SEG_RUNS=()
for family in $SEG_FAMILIES; do
    if [[ "$family" == fastervit ]]; then SEG_CONFIG=configs/demo/upernet_demo.py
    else SEG_CONFIG="configs/demo/upernet_${family}_demo.py"; fi
    step "training UPerNet ($family) on the demo dataset ($SEG_CONFIG) -> $WORK/seg_$family"
    "$PY" tools/train.py "$SEG_CONFIG" --work-dir "$WORK/seg_$family"
    SEG_CKPT="$(cat "$WORK/seg_$family/last_checkpoint")"
    step "evaluating $SEG_CKPT (mIoU)"
    "$PY" tools/test.py "$SEG_CONFIG" "$SEG_CKPT" --work-dir "$WORK/seg_$family/test"
    SEG_METRICS+=("$WORK/seg_$family/test/test_metrics.json")
    SEG_RUNS+=("$family $SEG_CONFIG $SEG_CKPT")
done
IMAGE="$MMVITPLUG_DEMO_DATA/coco/val/000000.jpg"

step "inference APIs on a validation image"
"$PY" tools/demo_inference.py \
    --det "$DET_CONFIG" "$DET_CKPT" --seg "$SEG_CONFIG" "$SEG_CKPT" \
    --image "$IMAGE" --out-dir "$WORK" \
    --metrics "$WORK/det/test/test_metrics.json" "${SEG_METRICS[@]}"

step "attention maps of the trained backbones on the same image -> $WORK/attention/"
"$PY" tools/visualize_attention.py "$DET_CONFIG" "$IMAGE" --checkpoint "$DET_CKPT" \
    --out "$WORK/attention/det_fastervit"
for run in "${SEG_RUNS[@]}"; do
    read -r family config ckpt <<< "$run"
    "$PY" tools/visualize_attention.py "$config" "$IMAGE" --checkpoint "$ckpt" \
        --out "$WORK/attention/seg_$family"
done
step "demo finished"
