#!/usr/bin/env bash
# One command for a short GPU session: train the default's cross-view recipe and the single-view
# winner (Chen et al.'s Adv + SS with the flow prior, abl_adv_ss_flow.yaml) at a large batch, each for a fixed number of minutes at most, and leave the
# model folders, logs and a summary in $OUT. S8 selects each run's checkpoint there (the pack holds
# S8's 3D for that); S9+S11 are measured afterwards where the test data is.
#
#   python training/pack_h36m.py ../shared/data/h36m --out .cache/h36m_pack.npz   # where the data is, once
#   OUT=out bash training/gpu_run.sh .cache/h36m_pack.npz                          # on the CUDA machine
#   poselift evaluate out/xview/best --h36m ../shared/data/h36m                    # back here
#
# Environment (defaults in brackets):
#   OUT [runs/gpu]    DEVICE [cuda]    BATCH [8192]    PYTHON [python]
#   EPOCHS_XVIEW [4]  passes relative to h36m17_xview_mix.yaml's own schedule (47 passes over the
#                     packed four-view instants): 4 gives about 190, the papers' ~200 epochs
#   EPOCHS_MONO [23]  the same for abl_adv_ss_flow.yaml (about 2.6 passes over the packed single-view
#                     poses at its own schedule: 23 gives about 60; raise it when the GPU is fast enough)
#   MINUTES [4]       wall-clock limit of each run; a run stopped by it keeps its last S8-selected best/
#   EXTRA_SET []      more recipe overrides for both runs, space separated (e.g. "data.subjects=[S1]")
set -uo pipefail

pack="${1:?usage: bash training/gpu_run.sh PACK.npz (from training/pack_h36m.py)}"
out="${OUT:-runs/gpu}"
py="${PYTHON:-python}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"

extra=()
for item in ${EXTRA_SET:-}; do extra+=(--set "$item"); done

run() {  # name recipe epochs
    local name="$1" recipe="$2" epochs="$3" start=$SECONDS
    echo "gpu_run: $name ($recipe, epochs x$epochs, at most ${MINUTES:-4} min)"
    timeout -s INT "$((${MINUTES:-4} * 60))" "$py" "$here/train_gpu.py" "$here/recipes/$recipe" --pack "$pack" \
        --device "${DEVICE:-cuda}" --batch-size "${BATCH:-8192}" --epochs "$epochs" --run-dir "$out/$name" \
        "${extra[@]}" > "$out/$name.log" 2>&1
    echo "gpu_run: $name finished with status $? after $((SECONDS - start)) s (log: $out/$name.log)"
}

run xview h36m17_xview_mix.yaml "${EPOCHS_XVIEW:-4}"
run mono abl_adv_ss_flow.yaml "${EPOCHS_MONO:-23}"

"$py" - "$out" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
summary = {}
for name in ("xview", "mono"):
    run = out / name
    best = run / "best" / "config.json"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()] if (run / "log.jsonl").is_file() else []
    meta = json.loads(best.read_text())["metadata"] if best.is_file() else {}
    summary[name] = {
        "best_step": meta.get("step"),
        "S8_p_mpjpe": meta.get("val_p_mpjpe"),
        "last_step": log[-1]["step"] if log else 0,
        "poses_per_s": max((r.get("poses_per_s", 0.0) for r in log), default=0.0),
        "model": str(run / "best") if best.is_file() else None,
    }
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
print(json.dumps(summary, indent=2))
EOF
