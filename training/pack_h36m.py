"""Pack what a training run reads from Human3.6M into one compact file, and unpack it elsewhere.

A GPU machine may only receive a checkout (no ``../shared/data``). This writes the training
subjects' 3D (root trajectory float32, root-relative joints float16: 0.5 mm steps), the
cameras, the Stacked-Hourglass detections of the training and validation subjects (float16
pixels: 0.5 px steps, far below the detector's noise) and the validation subject's 3D, every ``--stride``-th
frame, into one ``.npz`` of at most about 60 MiB. Unpacking rebuilds a folder with the file
names :mod:`poselift.evaluation.h36m` reads, so every recipe runs on it unchanged (with
``data.stride=1`` and ``data.val_stride=1``: the frames are already subsampled).

    python training/pack_h36m.py ../shared/data/h36m --out .cache/h36m_pack.npz
    python training/pack_h36m.py --unpack .cache/h36m_pack.npz --out /tmp/h36m

The pack is derived from Human3.6M: keep it in an ignored folder (``.cache/``), never commit it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from poselift.evaluation.h36m import TRAIN_SUBJECTS as TRAIN, VALIDATION_SUBJECTS as VALIDATION


def pack(h36m: Path, out: Path, *, stride: int = 2, val_stride: int = 16, detections: bool = True) -> dict:
    """Write the pack; returns its manifest."""
    data3d = np.load(h36m / "h36m_3d_17j.npz")
    arrays: dict[str, np.ndarray] = {}
    for key in data3d.files:
        subject = key.split("/")[0]
        if subject not in TRAIN + VALIDATION:
            continue
        step = stride if subject in TRAIN else val_stride
        X = data3d[key][::step].astype(np.float64)
        arrays[f"root/{key}"] = X[:, :1].astype(np.float32)
        arrays[f"rel/{key}"] = (X - X[:, :1]).astype(np.float16)
    if detections:
        det = np.load(h36m / "h36m_sh_2d_train.npz")
        for key in det.files:  # the validation subject's too: recipes on detections validate on them
            subject = key.split("/")[0]
            if subject in TRAIN + VALIDATION:
                arrays[f"det/{key}"] = det[key][:: stride if subject in TRAIN else val_stride].astype(np.float16)
    manifest = {"stride": stride, "val_stride": val_stride, "train": TRAIN, "validation": VALIDATION, "detections": detections}
    arrays["cameras.json"] = np.frombuffer((h36m / "cameras.json").read_bytes(), dtype=np.uint8)
    arrays["manifest.json"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    return manifest


def unpack(path: Path, out: Path) -> dict:
    """Rebuild an H36M folder (3D float32 world mm, cameras, detections) from a pack; returns its manifest."""
    z = np.load(path)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cameras.json").write_bytes(z["cameras.json"].tobytes())
    data3d = {k[len("rel/"):]: (z[k].astype(np.float32) + z["root/" + k[len("rel/"):]]) for k in z.files if k.startswith("rel/")}
    np.savez(out / "h36m_3d_17j.npz", **data3d)
    det = {k[len("det/"):]: z[k].astype(np.float32) for k in z.files if k.startswith("det/")}
    if det:
        np.savez(out / "h36m_sh_2d_train.npz", **det)
    return json.loads(z["manifest.json"].tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("h36m", nargs="?", help="the Human3.6M folder (../shared/data/h36m)")
    ap.add_argument("--out", required=True, help="the pack (.npz) to write, or the folder to unpack into")
    ap.add_argument("--unpack", help="unpack this pack instead")
    ap.add_argument("--stride", type=int, default=2, help="keep every n-th training frame")
    ap.add_argument("--val-stride", type=int, default=16)
    ap.add_argument("--no-detections", action="store_true")
    args = ap.parse_args()
    if args.unpack:
        print(json.dumps(unpack(Path(args.unpack), Path(args.out))))
        return
    if not args.h36m:
        ap.error("give the Human3.6M folder, or --unpack PACK")
    manifest = pack(Path(args.h36m), Path(args.out), stride=args.stride, val_stride=args.val_stride, detections=not args.no_detections)
    size = Path(args.out).stat().st_size
    print(json.dumps({"out": args.out, "MiB": round(size / 2**20, 1), **manifest}))


if __name__ == "__main__":
    main()
