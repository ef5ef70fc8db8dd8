"""COCO keypoint annotations and COCO detector results."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmptyInputError, InputFileError, ShapeError
from ..skeleton import SKELETONS, canonical_layout

from .data import _layout_for, _load_json, _triplets, _stack, _check_some_joint, KeypointData

logger = logging.getLogger(__name__)

__all__ = ["read_coco"]


def read_coco(path: str | os.PathLike, *, layout: str | None = None) -> KeypointData:
    """Read a COCO keypoint annotation file or a COCO result list (see the module documentation)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"COCO file {path.resolve()} does not exist")
    return _read_coco_obj(_load_json(path), path, layout)


def _read_coco_obj(obj: Any, path: Path, layout: str | None) -> KeypointData:
    if isinstance(obj, dict) and isinstance(obj.get("annotations"), list):
        anns, is_result = obj["annotations"], False
        images = obj.get("images")
    elif isinstance(obj, list):
        anns, is_result, images = obj, True, None
    else:
        raise InputFileError(f"{path}: not a COCO keypoint file (expected 'annotations' or a result list)")

    order: list[Any] = []
    names: dict[Any, str] = {}
    if isinstance(images, list):
        for img in images:
            if isinstance(img, dict) and isinstance(img.get("id"), (int, str)) and not isinstance(img["id"], bool):
                name = str(img.get("file_name", img["id"]))
                if img["id"] in names:  # listed twice: one frame, unless the two entries disagree
                    if names[img["id"]] != name:
                        raise InputFileError(
                            f"{path}: image id {img['id']!r} is listed twice, as {names[img['id']]!r} and {name!r}; "
                            "its annotations cannot be assigned to one of them"
                        )
                    logger.warning("%s: image id %r is listed twice; read as one frame", path, img["id"])
                    continue
                order.append(img["id"])
                names[img["id"]] = name
    per_image: dict[Any, list[np.ndarray]] = {}
    per_score: dict[Any, list[float]] = {}
    n: int | None = None
    dropped = 0
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict) or "image_id" not in ann or "keypoints" not in ann:
            raise InputFileError(f"{path}: entry {i} lacks 'image_id' or 'keypoints'")
        t = _triplets(ann["keypoints"], f"{path}: entry {i} keypoints")
        if n is None:
            n = len(t)
        elif len(t) != n:
            raise ShapeError(f"{path}: entry {i} has {len(t)} keypoints but earlier entries have {n}")
        image = ann["image_id"]
        if isinstance(image, bool) or not isinstance(image, (int, str)):
            raise InputFileError(f"{path}: entry {i} has image_id {json.dumps(image)[:40]}; expected a number or a string")
        if names and image not in names:
            raise InputFileError(f"{path}: entry {i} refers to image_id {image!r}, which is not in 'images'")
        if not is_result:
            if not bool((t[:, 2] > 0).any()):
                dropped += 1  # no labelled joint: a crowd region or an unannotated person
                continue
            t = t.copy()
            t[:, 2] = (t[:, 2] > 0).astype(np.float32)
        per_image.setdefault(image, []).append(t)
        score = ann.get("score", 1.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not np.isfinite(score):
            raise InputFileError(f"{path}: entry {i} has score {json.dumps(score)[:40]}; expected a finite number")
        per_score.setdefault(image, []).append(float(score))
    if dropped:
        logger.info("%s: dropped %d annotations without labelled keypoints", path, dropped)
    if not order:
        ids = list(per_image)
        try:
            order = sorted(ids)
        except TypeError:
            order = sorted(ids, key=str)
    if not order:
        raise EmptyInputError(f"{path}: no keypoint annotations found")
    if n is None:
        name = canonical_layout(layout) if layout is not None else None
        n = SKELETONS[name].num_joints if name is not None else 0
    else:
        name = _layout_for(n, layout, kind=f"keypoints in {path}")
        if layout is None and n == 17:
            name = "coco17"  # a COCO file with 17 joints is COCO-17, not Human3.6M
    people = [per_image.get(i, []) for i in order]
    scores = [per_score.get(i, []) for i in order] if is_result else None
    xy, conf, counts, sc = _stack(people, n, scores)
    _check_some_joint(conf, counts, str(path))
    return KeypointData(xy, conf, name, [names.get(i, str(i)) for i in order], counts, scores=sc)
