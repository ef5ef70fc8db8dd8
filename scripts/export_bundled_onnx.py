"""Write the ONNX graphs next to the weights bundled in the package, so they serve without torch.

For each bundled lifter: ``model.onnx`` (the lift) and, if it has one, ``completion.onnx``;
for each bundled correction: ``model.onnx``. Each graph is exported from the folder's own
``model.safetensors`` by the one torch implementation and carries its config and a digest
of those weights, which the ONNX backend checks on load. The graphs hold no copy of the
weights: their initializers point into ``model.safetensors`` (ONNX external data). ``training/make_release.py`` does
the same for new releases; run this after changing the export code:

    python scripts/export_bundled_onnx.py
"""

from __future__ import annotations

import argparse

from poselift import Lifter
from poselift.correction import LearnedCorrection, export_correction
from poselift.runners import export_completion, export_lift
from poselift.weights import BUNDLED, BUNDLED_CORRECTIONS, COMPLETION_ONNX_NAME, ONNX_NAME, WEIGHTS_NAME, resolve_model


def main() -> None:
    for name in sorted(BUNDLED):
        folder = resolve_model(name)
        lifter = Lifter.from_folder(folder, backend="torch")
        weights = folder / WEIGHTS_NAME
        print("wrote", export_lift(lifter.runner, lifter.config, folder / ONNX_NAME, weights_file=weights))
        if lifter.config.completion is not None:
            print("wrote", export_completion(lifter.runner, lifter.config, folder / COMPLETION_ONNX_NAME, weights_file=weights))
    for name in sorted(BUNDLED_CORRECTIONS):
        folder = resolve_model(name)
        correction = LearnedCorrection.from_folder(folder, backend="torch")
        print("wrote", export_correction(correction.runner, correction.config, folder / ONNX_NAME, weights_file=folder / WEIGHTS_NAME))


if __name__ == "__main__":
    # --help prints the above and writes nothing (the script rewrites files inside the package)
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
