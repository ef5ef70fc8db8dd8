"""The lifter's backends: what runs its networks, behind one small interface (:class:`LiftRunner`).

A runner takes and returns numpy float32 arrays of flat batches; input checks, batching
and the caller's container are the job of :class:`~poselift.lifter.Lifter`, which holds a runner.

- ``TorchLiftRunner``: the torch modules (``poselift[torch]``), on any torch device; needed
  to train, fine-tune and save.
- ``OnnxLiftRunner``: onnxruntime sessions of the exported graphs (:mod:`poselift.onnx`);
  need no torch when the folder ships its graphs.

:func:`~poselift.pretrained.default_backend` picks ONNX Runtime for a folder that ships its
graphs (the released weights do), else torch when it is installed, else ONNX (which then
needs them). A learned correction's runners are the same two, in :mod:`poselift.correction`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .config import LifterConfig
from .errors import InvalidArgumentError, NetworkConfigError, require, torch_available
from .pretrained import Backend, Runner, check_backend
from .weights import COMPLETION_ONNX_NAME, ONNX_NAME, graph_digests, read_state, split_state, state_digest

__all__ = ["LiftRunner", "TorchLiftRunner", "OnnxLiftRunner", "load_lift_runner", "export_lift", "export_completion"]

logger = logging.getLogger(__name__)

#: Poses per network call on a CPU when the caller sets none: the activations of a few hundred
#: poses stay in cache (about 30 % more poses a second than 4096 at a time with one thread;
#: ``benchmarks/bench_lift.py``, floor / time).
CPU_BATCH = 512
#: The same on a GPU: large calls amortise each launch.
ACCELERATOR_BATCH = 8192
#: onnxruntime providers that run the graph on an accelerator (others, e.g. the CPU's and
#: Azure's, which onnxruntime lists even on a CPU-only machine, get :data:`CPU_BATCH`).
ACCELERATOR_PROVIDERS = frozenset({
    "CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider",
    "DmlExecutionProvider", "CoreMLExecutionProvider", "WebGpuExecutionProvider",
})  # fmt: skip


class LiftRunner(Runner, Protocol):
    """Runs the lift pipeline and the completion network of one lifter."""

    #: Poses per network call when the caller sets none: what keeps the backend at its best
    #: throughput (on a CPU, a few hundred poses keep the layer activations in cache). A
    #: runner of your own may leave it out (``Lifter`` then uses :data:`CPU_BATCH`), and may
    #: take only ``lift(x, height)`` if its lifter has no completion network: ``visible`` is
    #: passed only for poses with missing joints.
    batch_size: int

    def lift(self, x: np.ndarray, height: float | None, visible: np.ndarray | None = None) -> np.ndarray:
        """``(B, N, 2)`` float32 pixels -> ``(B, N, 3)`` float32: metres for a body ``height``,
        the network's normalised units for ``None``. With ``visible`` ``(B, N)`` bool, the
        completion network first fills the joints that are not visible (in the same call:
        the filled poses stay on the device)."""


# ---------------------------------------------------------------------------- torch
class TorchLiftRunner:
    """The torch modules of a lifter: ``net``, ``pipeline`` (:class:`~poselift.pipeline.LiftPipeline`)
    and the optional ``completion`` network, on ``device``."""

    backend: Backend = "torch"

    def __init__(self, config: LifterConfig, net: Any = None, completion: Any = None, device: Any = None):
        torch = require("torch", "torch")

        from .nets import CompletionNet, build_lifter_net
        from .pipeline import LiftPipeline

        self.net = (net if net is not None else build_lifter_net(config)).eval()
        if completion is None and config.completion is not None:
            completion = CompletionNet(config.num_joints, config.completion.width, config.completion.blocks)
        if completion is not None and config.completion is None:
            raise NetworkConfigError("a completion network needs config.completion (its width, blocks, min_visible)")
        self.completion = completion.eval() if completion is not None else None
        self.pipeline = LiftPipeline(self.net, config).eval()
        self.device = torch.device(device) if device is not None else next(self.net.parameters()).device
        self.to(self.device)

    def modules(self) -> dict[str, Any]:
        """The networks by their key prefix in ``model.safetensors``."""
        mods: dict[str, Any] = {"": self.net}
        if self.completion is not None:
            mods["completion."] = self.completion
        return mods

    def to(self, device: Any) -> "TorchLiftRunner":
        import torch

        self.device = torch.device(device)
        self.batch_size = CPU_BATCH if self.device.type == "cpu" else ACCELERATOR_BATCH
        for module in self.modules().values():
            module.to(self.device)
        return self

    def lift(self, x: np.ndarray, height: float | None, visible: np.ndarray | None = None) -> np.ndarray:
        import torch

        with torch.inference_mode():  # one trip to the device and one back, completion or not
            t = torch.from_numpy(x).to(self.device)
            if visible is not None:
                t = self.completion(t, torch.from_numpy(visible).to(self.device))
            out = self.pipeline(t, torch.tensor(0.0 if height is None else float(height), device=self.device))
            return out.cpu().numpy()

    def describe(self) -> str:
        return f"device={str(self.device)!r}"


# ---------------------------------------------------------------------------- onnxruntime
class OnnxLiftRunner:
    """onnxruntime sessions of a lifter's graphs: ``session`` (the lift, from ``onnx_path``)
    and ``completion_session`` (``None`` for a lifter without a completion network)."""

    backend: Backend = "onnx"

    def __init__(self, session: Any, onnx_path: Path, completion_session: Any = None, completion_path: Path | None = None):
        from .onnx import COMPLETION_GRAPH, LIFT_GRAPH

        self.session, self.onnx_path = session, onnx_path
        self.completion_session, self.completion_path = completion_session, completion_path
        self._outputs, self._completion_outputs = [LIFT_GRAPH.output], [COMPLETION_GRAPH.output]
        self._heights: dict[float | None, np.ndarray] = {}
        on_accelerator = not ACCELERATOR_PROVIDERS.isdisjoint(session.get_providers())
        self.batch_size = ACCELERATOR_BATCH if on_accelerator else CPU_BATCH

    def lift(self, x: np.ndarray, height: float | None, visible: np.ndarray | None = None) -> np.ndarray:
        if visible is not None:
            feed = {"keypoints": np.ascontiguousarray(x), "visible": visible.astype(np.float32)}
            (x,) = self.completion_session.run(self._completion_outputs, feed)
        h = self._heights.get(height)
        if h is None:  # the graph's own spelling of "normalised units" is a height <= 0
            h = self._heights[height] = np.asarray(0.0 if height is None else height, dtype=np.float32)
        (out,) = self.session.run(self._outputs, {"keypoints": x if x.flags.c_contiguous else np.ascontiguousarray(x), "height": h})
        return out

    def describe(self) -> str:
        return f"providers={self.session.get_providers()!r}"


# ---------------------------------------------------------------------------- loading
def _session_options(intra_op_threads: int | None, session_options: Any | None) -> Any:
    from .onnx import default_session_options

    if session_options is not None and intra_op_threads is not None:
        raise InvalidArgumentError("pass intra_op_threads or session_options, not both: set the threads on your SessionOptions.")
    return session_options if session_options is not None else default_session_options(intra_op_threads)


def _cpu_only(device: Any) -> None:
    if device is not None and str(device).split(":")[0] != "cpu":
        raise InvalidArgumentError(
            f"the ONNX backend does not take device={str(device)!r}; choose where it runs "
            "with providers=[...] (e.g. 'CUDAExecutionProvider' with onnxruntime-gpu)."
        )


def load_lift_runner(
    folder: Path,
    config: LifterConfig,
    *,
    backend: str | None = None,
    device: Any = None,
    providers: Any = None,
    intra_op_threads: int | None = None,
    session_options: Any | None = None,
    cache_dir: str | os.PathLike | None = None,
    opset: int = 17,
) -> tuple[LiftRunner, str]:
    """The runner of the lifter in ``folder`` (``config`` already read from it), and the
    :func:`~poselift.weights.state_digest` of its ``model.safetensors`` (read once)."""
    graphs = (ONNX_NAME,) if config.completion is None else (ONNX_NAME, COMPLETION_ONNX_NAME)
    backend = check_backend(backend, folder, graphs)
    if backend == "torch":
        from .weights import load_modules

        runner = TorchLiftRunner(config, device="cpu")
        digest = load_modules(runner.modules(), folder)
        return runner.to(device or "cpu"), digest

    from .onnx import COMPLETION_GRAPH, LIFT_GRAPH, open_graph

    _cpu_only(device)
    options = _session_options(intra_op_threads, session_options)
    config_dict = config.model_dump(mode="json")
    torch_runner: list[TorchLiftRunner] = []

    def modules() -> TorchLiftRunner:  # built only when a graph must be exported
        if not torch_runner:
            from .weights import load_modules

            runner = TorchLiftRunner(config, device="cpu")
            load_modules(runner.modules(), folder)
            torch_runner.append(runner)
        return torch_runner[0]

    exporting = torch_available()
    common = dict(config=config_dict, providers=providers, session_options=options, cache_dir=cache_dir, opset=opset)
    state = read_state(folder)
    recorded = graph_digests(folder)
    session, path = open_graph(
        folder, ONNX_NAME, LIFT_GRAPH, weights_digest=state_digest(split_state(state, "")), file_digest=recorded.get(ONNX_NAME),
        export=(lambda p: export_lift(modules(), config, p, opset=opset)) if exporting else None, **common,
    )
    completion_session = completion_path = None
    if config.completion is not None:
        completion_session, completion_path = open_graph(
            folder, COMPLETION_ONNX_NAME, COMPLETION_GRAPH, weights_digest=state_digest(split_state(state, "completion.")),
            file_digest=recorded.get(COMPLETION_ONNX_NAME),
            export=(lambda p: export_completion(modules(), config, p, opset=opset)) if exporting else None, **common,
        )
    logger.info("loaded %s lifter from %s into onnxruntime (%s, %s)", config.skeleton, folder, path, session.get_providers())
    return OnnxLiftRunner(session, path, completion_session, completion_path), state_digest(state)


# ---------------------------------------------------------------------------- export (torch)
def export_lift(
    runner: TorchLiftRunner, config: LifterConfig, path: str | os.PathLike, *, opset: int = 17, weights_file: Any = None
) -> Path:
    """Write the lift graph (``model.onnx``) of a torch lifter to ``path`` (self-contained, or
    reading its weights from ``weights_file``, see :func:`poselift.onnx.export_graph`)."""
    import torch

    from .onnx import LIFT_GRAPH, example_poses, export_graph

    example = (example_poses(config.num_joints), torch.tensor(1.7))
    return export_graph(runner.pipeline, LIFT_GRAPH, example, path, config_json=_json(config),
                        weights_digest=state_digest(runner.net.state_dict()), opset=opset, weights_file=weights_file)


def export_completion(
    runner: TorchLiftRunner, config: LifterConfig, path: str | os.PathLike, *, opset: int = 17, weights_file: Any = None
) -> Path:
    """Write the completion graph (``completion.onnx``) of a torch lifter to ``path``."""
    import torch

    from .onnx import COMPLETION_GRAPH, example_poses, export_graph

    x = example_poses(config.num_joints)
    visible = torch.ones(x.shape[:-1])
    visible[0, 0] = 0.0
    return export_graph(runner.completion, COMPLETION_GRAPH, (x, visible), path, config_json=_json(config),
                        weights_digest=state_digest(runner.completion.state_dict()), opset=opset, weights_file=weights_file)


def _json(config: Any) -> str:
    import json

    return json.dumps(config.model_dump(mode="json"))
