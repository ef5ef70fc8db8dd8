"""Run a lifter with onnxruntime instead of PyTorch.

    pip install ".[onnx]"
    python examples/onnx_inference.py                     # default model
    python examples/onnx_inference.py path/to/model_folder

Two ways are shown:
  A. poselift's ONNX backend: the same Lifter API (input checks, batching, numpy/torch in
     and out), with the network running in onnxruntime;
  B. a plain ONNX file, for deployments where only onnxruntime is installed.
"""

import sys

import numpy as np

from poselift import Lifter

model = sys.argv[1] if len(sys.argv) > 1 else "poselift/h36m-17"

# Some 2D poses in the lifter's layout (here: random jitter around a standing person,
# Human3.6M-17 order, pixels); in practice the output of adapt_openpose / adapt_coco17.
standing = np.array(
    [[320, 300], [300, 302], [298, 380], [296, 455], [340, 302], [343, 380], [345, 456],
     [321, 250], [322, 200], [322, 180], [323, 140], [355, 205], [370, 255], [378, 300],
     [289, 205], [275, 255], [268, 302]], dtype=np.float32)  # fmt: skip
keypoints = standing + np.random.default_rng(0).normal(0, 5, size=(8, 17, 2)).astype(np.float32)

# A. Same API, onnxruntime inside. The ONNX graph is exported once and cached.
torch_lifter = Lifter.from_pretrained(model)
onnx_lifter = Lifter.from_pretrained(model, backend="onnx")  # providers=["CUDAExecutionProvider", ...]
a = torch_lifter.lift(keypoints)
b = onnx_lifter.lift(keypoints)
print("torch vs onnxruntime, largest difference (m):", float(np.abs(a - b).max()))

# B. Export a standalone .onnx file: inputs "keypoints" (batch, 17, 2) float32 pixels and
#    "height" () float32 metres; output "pose3d" (batch, 17, 3), root-relative, camera axes.
path = torch_lifter.export_onnx("lifter.onnx")

import onnxruntime as ort  # noqa: E402  (only this part needs nothing but onnxruntime)

session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
(pose3d,) = session.run(None, {"keypoints": keypoints, "height": np.array(1.70, dtype=np.float32)})
print("plain onnxruntime:", pose3d.shape, "largest difference (m):", float(np.abs(pose3d - a).max()))
