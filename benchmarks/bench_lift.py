"""Speed of ``Lifter.lift`` for the torch and ONNX backends, against a matmul floor.

For each backend, device and batch size this measures end-to-end ``lift`` calls on
float32 numpy input (validation, network, conversions included): median and p90
latency, poses per second, the backend call alone (``lifter.runner.lift``), and the peak
resident memory of a fresh process that ran only that configuration. For the ONNX backend
it also times a bare ``onnxruntime.InferenceSession.run`` of the same graph file, with the
same session options, on the same input, in the same process (interleaved with the
``lift`` calls, so both see the same machine load): ``lift / bare`` is the cost of
everything poselift does around the network. It also times ``import poselift`` in fresh
processes.

The floor is the network's multiply-adds alone: FLOPs per pose (``2 * in * out`` summed
over the Linear layers, from the config) divided by this machine's measured float32
matrix-multiply rate (best of several ``torch.mm`` of 4096x1024 @ 1024x1024 on the same
threads). ``floor / time`` near 100 % means the lift runs at matmul speed.

Usage::

    python benchmarks/bench_lift.py                      # full run, writes benchmarks/RESULTS.md
    python benchmarks/bench_lift.py --quick              # a quick check of the script
    python benchmarks/bench_lift.py --model path/to/model --threads 4 --batches 1 256

Each configuration runs in its own subprocess, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCHES = (1, 16, 256, 4096, 65536)
QUICK_BATCHES = (1, 16, 256, 4096)


# ---------------------------------------------------------------------------- helpers
def flops_per_pose(config) -> int:
    """Multiply-add FLOPs of the lifter network per pose (both passes with the flip test), from its config."""
    n_in, width = 2 * config.num_joints, config.width
    extra = n_in if config.input_skip else 0
    layers = [(n_in, width)] + [(width + extra, width), (width, width)] * config.blocks + [(width, config.num_joints)]
    return 2 * _passes(config) * sum(i * o for i, o in layers)


def _passes(config) -> int:
    """Network passes per pose: the flip test lifts each pose and its mirror image."""
    return 2 if config.flip_test else 1


def matmul_gflops(threads: int, repeats: int = 7) -> float:
    """Best float32 ``torch.mm`` rate (GFLOP/s) of 4096x1024 @ 1024x1024 on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(4096, 1024), torch.randn(1024, 1024)
    for _ in range(2):
        torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * 4096 * 1024 * 1024 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20  # KiB on Linux, bytes on macOS


def machine_description() -> dict:
    import numpy
    import torch

    info = {
        "cpu": platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu"] = fields.get("Model name", info["cpu"])
        cores = int(fields.get("Core(s) per socket", 0)) * int(fields.get("Socket(s)", 0))
        if cores:
            info["physical_cores"] = cores
        for key in ("L2 cache", "L3 cache", "Hypervisor vendor"):
            if key in fields:
                info[key.lower().replace(" ", "_")] = fields[key]
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = "not installed"
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# ---------------------------------------------------------------------------- worker (one configuration per process)
def worker(spec: dict) -> dict:
    """Measure one (backend, device, batch) in this process; return a result dict."""
    import gc

    import numpy as np
    import torch

    from poselift import Lifter

    torch.set_num_threads(spec["threads"])
    if spec["backend"] == "onnx":
        providers = ["CUDAExecutionProvider"] if spec["device"] == "cuda" else ["CPUExecutionProvider"]
        lifter = Lifter.from_folder(
            spec["folder"], backend="onnx", providers=providers, intra_op_threads=spec["threads"], onnx_cache_dir=spec["cache_dir"]
        )
    else:
        lifter = Lifter.from_folder(spec["folder"], backend="torch", device=spec["device"])

    n, batch = lifter.skeleton.num_joints, spec["batch"]
    rng = np.random.default_rng(0)
    x = (rng.uniform(300, 700, size=(batch, 1, 2)) + rng.normal(0, 80, size=(batch, n, 2))).astype(np.float32)
    if batch == 1:
        x = x[0]  # a single pose, (N, 2): the common real-time call
    flat = np.ascontiguousarray(x.reshape(-1, n, 2))
    sync = torch.cuda.synchronize if spec["device"] == "cuda" and spec["backend"] == "torch" else (lambda: None)
    base_rss = _maxrss_mb()
    if spec["device"] == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def call_lift():
        lifter.lift(x)

    def call_backend():
        lifter.runner.lift(flat, lifter.config.height)
        sync()

    calls = {"lift": call_lift, "backend": call_backend}
    if spec["backend"] == "onnx":  # the same graph file, options and input, without poselift around it
        import onnxruntime

        from poselift.onnx import default_session_options

        bare = onnxruntime.InferenceSession(
            str(lifter.runner.onnx_path), sess_options=default_session_options(spec["threads"]), providers=providers
        )
        feed = {"keypoints": flat, "height": np.asarray(lifter.config.height, dtype=np.float32)}
        calls["bare"] = lambda: bare.run(["pose3d"], feed)

    for fn in calls.values():
        for _ in range(spec["warmup"]):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    gc.collect()
    gc.disable()
    start = time.perf_counter()
    # rounds of a few calls each (five, one for batches of 4096 and more), alternating, so machine
    # load hits every call kind alike; the repetitions counted are the samples taken
    while len(samples["lift"]) < spec["max_reps"] and (
        len(samples["lift"]) < spec["min_reps"] or time.perf_counter() - start < len(calls) * spec["min_time"]
    ):
        for name, fn in calls.items():
            for _ in range(5 if spec["batch"] < 4096 else 1):
                samples[name].append(_timed(fn))
    gc.enable()
    results = {}
    for name, times in samples.items():
        times.sort()
        results[name] = {
            "median_s": statistics.median(times),
            "p90_s": times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))],
            "reps": len(times),
        }
    out = {
        **spec,
        "lift": results["lift"],
        "backend_call": results["backend"],
        "base_rss_mb": base_rss,
        "peak_rss_mb": _maxrss_mb(),
    }
    if "bare" in results:
        out["bare_run"] = results["bare"]
    out["load_1min"] = os.getloadavg()[0]  # the machine is shared: each row says how busy it was
    if spec["device"] == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


# ---------------------------------------------------------------------------- driver
def _prepare_model(args, workdir: Path) -> Path:
    """A model folder: ``--model``, or a randomly initialised lifter of the given size."""
    if args.model:  # absolute: the workers run in another folder
        given = Path(args.model).expanduser()
        return given.resolve() if given.exists() else given
    import torch

    from poselift import Lifter, LifterConfig

    torch.manual_seed(0)
    folder = workdir / "model"
    Lifter(LifterConfig(width=args.width, blocks=args.blocks, skeleton=args.skeleton)).save_pretrained(folder)
    return folder


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _table(rows: list[dict], floor_s_per_pose: float) -> str:
    lines = [
        "| backend | device | batch | lift median | lift p90 | poses/s | backend call median | bare run median | lift / bare | peak RSS (MB) | RSS growth (MB) | floor / time | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lift = r["lift"]
        ratio = (floor_s_per_pose * r["batch"]) / lift["median_s"] if r["batch"] >= 4096 and r["device"] == "cpu" else None
        mem = f"{r['peak_rss_mb']:.0f}" + (f" (GPU {r['cuda_peak_mb']:.0f})" if "cuda_peak_mb" in r else "")
        bare = r.get("bare_run")
        bare_cells = f"{_fmt_time(bare['median_s'])} | {lift['median_s'] / bare['median_s']:.2f}x" if bare else "— | —"
        lines.append(
            f"| {r['backend']} | {r['device']} | {r['batch']} | {_fmt_time(lift['median_s'])} | {_fmt_time(lift['p90_s'])} "
            f"| {r['batch'] / lift['median_s']:,.0f} | {_fmt_time(r['backend_call']['median_s'])} | {bare_cells} "
            f"| {mem} | {r['peak_rss_mb'] - r['base_rss_mb']:.0f} | {f'{ratio:.0%}' if ratio else '—'} | {r['load_1min']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (config.json + model.safetensors); default: a random lifter")
    parser.add_argument("--width", type=int, default=1024, help="width of the random lifter (default 1024)")
    parser.add_argument("--blocks", type=int, default=2, help="residual blocks of the random lifter (default 2)")
    parser.add_argument("--skeleton", default="h36m17", help="joint layout of the random lifter")
    parser.add_argument("--batches", type=int, nargs="+", help=f"batch sizes (default {BATCHES}; quick {QUICK_BATCHES})")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for both backends")
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes and repetitions: checks the script")
    parser.add_argument("--min-time", type=float, help="seconds of timed calls per configuration (default 2; quick 0.3)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="markdown file to write ('-': none)")
    parser.add_argument("--note", action="append", default=[], help="a line to add under 'Status' in the results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import torch

    from poselift import LifterConfig

    batches = args.batches or (QUICK_BATCHES if args.quick else BATCHES)
    min_time = args.min_time if args.min_time is not None else (0.3 if args.quick else 2.0)
    load_before = os.getloadavg()
    machine = machine_description()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    with tempfile.TemporaryDirectory(prefix="poselift-bench-") as tmp:
        workdir = Path(tmp)
        folder = _prepare_model(args, workdir)
        config = LifterConfig.from_file(folder / "config.json")
        flops = flops_per_pose(config)
        _check_flops(config, flops)
        gflops = matmul_gflops(args.threads)
        floor = flops / (gflops * 1e9)
        print(f"{flops / 1e6:.2f} MFLOP/pose; matmul {gflops:.1f} GFLOP/s on {args.threads} thread(s); "
              f"floor {1 / floor:,.0f} poses/s", file=sys.stderr)

        if "onnx" in args.backends:
            _prepare_onnx(folder, workdir)

        rows = []
        for backend in args.backends:
            for device in devices:
                if backend == "onnx" and device == "cuda" and not _ort_has_cuda():
                    continue
                for batch in batches:
                    spec = {
                        "backend": backend, "device": device, "batch": batch,
                        "folder": str(folder), "threads": args.threads, "cache_dir": str(workdir / "onnx"),
                        "warmup": 1 if batch >= 4096 else 5,
                        "min_reps": 3 if batch >= 4096 else (5 if args.quick else 20),
                        "max_reps": 20000, "min_time": min_time,
                    }
                    row = _run_worker(spec)
                    rows.append(row)
                    print(f"{backend} {device} batch {batch}: "
                          f"median {_fmt_time(row['lift']['median_s'])}, {batch / row['lift']['median_s']:,.0f} poses/s",
                          file=sys.stderr)

    load_after = os.getloadavg()
    import_s = import_seconds()
    report = _report(args, machine, config, flops, gflops, floor, rows, load_before, load_after, batches, import_s)
    print(report)
    if args.out != "-":
        out = Path(args.out)
        keep = ""  # the video section (benchmarks/bench_video.py) stays
        if out.exists() and "<!-- bench_video start -->" in (old := out.read_text(encoding="utf-8")):
            keep = "\n" + old[old.index("<!-- bench_video start -->") :]
        out.write_text(report.rstrip("\n") + "\n" + keep, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _check_flops(config, flops: int) -> None:
    """The config-derived count must match the Linear layers of the actual network."""
    import torch

    from poselift.nets import LifterNet

    counted = sum(2 * m.in_features * m.out_features for m in LifterNet(config).modules() if isinstance(m, torch.nn.Linear))
    if counted * _passes(config) != flops:
        raise RuntimeError(f"FLOP count from the config ({flops}) differs from the network's Linear layers ({counted})")


def _ort_has_cuda() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _prepare_onnx(folder: Path, workdir: Path) -> None:
    """Export once here, so workers only load (and their peak memory excludes the export)."""
    from poselift import Lifter

    Lifter.from_folder(folder, backend="onnx", onnx_cache_dir=workdir / "onnx")


def _run_worker(spec: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        capture_output=True, text=True, env=env, cwd=HERE,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed for {spec['backend']} {spec['device']} batch {spec['batch']}:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def import_seconds(runs: int = 7) -> float:
    """Median seconds of ``import poselift`` in fresh processes."""
    code = "import time; t = time.perf_counter(); import poselift; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def _report(args, machine, config, flops, gflops, floor, rows, load_before, load_after, batches, import_s) -> str:
    cores = machine.get("physical_cores") or machine.get("logical_cpus") or 1
    busy = load_before[0] > 0.25 * cores  # the load after includes this benchmark's own threads
    status = []
    if args.quick:
        status.append("**Quick run** (`--quick`): a check that the script works, with few repetitions; not final figures.")
    if busy:
        status.append(
            f"**The machine was busy** (1-minute load average {load_before[0]:.2f} before the run, "
            f"on {cores} cores): every timing below is contaminated by other processes."
        )
    if not status:
        status.append(
            f"Measured on an otherwise idle machine (1-minute load average {load_before[0]:.2f} before the run, "
            f"{load_after[0]:.2f} after it, this benchmark's own load included)."
        )
    status += args.note
    singles = {r["backend"]: r["lift"]["median_s"] for r in rows if r["batch"] == 1 and r["device"] == "cpu"}
    model = args.model or f"random lifter, width {config.width}, {config.blocks} blocks (the timing does not depend on the weights)"
    lines = [
        "# poselift lift benchmarks",
        "",
        "## Status",
        "",
        *[f"- {s}" for s in status],
        "",
        "## Machine",
        "",
        *[f"- {k.replace('_', ' ')}: {v}" for k, v in machine.items()],
        f"- threads used: {args.threads} (torch `set_num_threads`, onnxruntime `intra_op_num_threads`)",
        "",
        "## Model and floor",
        "",
        f"- model: {model}; skeleton {config.skeleton} ({config.num_joints} joints), input_skip={config.input_skip}, "
        f"batchnorm={config.batchnorm}",
        f"- network FLOPs per pose: {flops / 1e6:.2f} MFLOP (2·in·out summed over the Linear layers{', x2 for the flip test' if config.flip_test else ''})",
        f"- matrix-multiply rate: {gflops:.1f} GFLOP/s (float32 `torch.mm` 4096x1024 @ 1024x1024, best of 7)",
        f"- floor: {floor * 1e6:.1f} µs per pose, {1 / floor:,.0f} poses/s",
        "",
        "## Results",
        "",
        _table(rows, floor),
        "",
    ]
    if singles:
        parts = [f"{b} {_fmt_time(t)}" for b, t in sorted(singles.items())]
        lines += [f"Single pose, end to end on CPU: {', '.join(parts)}.", ""]
    for r in rows:
        if r["batch"] == 1 and r["device"] == "cpu" and "bare_run" in r:
            bare = r["bare_run"]["median_s"]
            lines += [f"Single pose on ONNX: lift {_fmt_time(r['lift']['median_s'])}, bare `InferenceSession.run` "
                      f"{_fmt_time(bare)}: {r['lift']['median_s'] / bare:.2f}x.", ""]
    lines += [
        "## How to read this",
        "",
        "- `lift`: one `Lifter.lift(x)` call on float32 numpy input of shape (batch, N, 2) ((N, 2) for batch 1), "
        "validation, network and conversions included; median and p90 over repeated calls after warm-up.",
        "- `backend call`: `lifter.runner.lift` alone (the pipeline in torch, or `session.run` in onnxruntime) on "
        "the already-prepared float32 array: the difference to `lift` is per-call overhead.",
        "- peak RSS: maximum resident memory of a fresh process that loaded the model and ran only that "
        "configuration (`resource.getrusage`); growth is the rise over the level after loading. "
        "Graphs the model folder does not ship are exported beforehand in the parent process.",
        "- bare run: `onnxruntime.InferenceSession.run` of the same graph file with the same session options on the same "
        "input, timed in the same process in alternating rounds with `lift`; lift / bare is poselift's cost around "
        "the network (issue 18's target: at most 1.3x for a single pose).",
        "- floor / time: the network's FLOPs at the matmul rate above over the measured time (batches >= 4096, CPU): "
        "the share of the matmul floor's throughput that `lift` reaches.",
        f"- `import poselift`: {import_s * 1e3:.0f} ms (median of 7 fresh processes, `time.perf_counter` around the import).",
        "",
        "Reproduce: `python benchmarks/bench_lift.py"
        + (" --quick" if args.quick else "")
        + (f" --model {args.model}" if args.model else f" --width {config.width} --blocks {config.blocks}")
        + f" --threads {args.threads}` (batches {', '.join(map(str, batches))}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
