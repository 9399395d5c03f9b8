#!/usr/bin/env python3
"""PyTorch/cuDNN conv2d on the benchmark shapes (S1-S7, S1 at batch 64), fp32 with TF32 off and
with TF32 on, timed with CUDA events after warm-up (median of the timed runs). With --ours PATH
(channelconv_cuda_bench's JSON) it prints channelconv / cuDNN ratios per shape and precision.
Usage: python3 scripts/gpu_torch_bench.py [--ours cuda_bench.json] [--json out.json] [--reps N]
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F

# id, N, C, H, W, K, KH, KW, stride, pad, groups: the same table as native/cuda/bench/cuda_bench.cu
CASES = [
    ("S1", 1, 100, 64, 64, 100, 5, 5, 1, 2, 1),
    ("S1b64", 64, 100, 64, 64, 100, 5, 5, 1, 2, 1),
    ("S2", 8, 100, 64, 64, 100, 5, 5, 1, 2, 1),
    ("S3", 8, 64, 56, 56, 64, 3, 3, 1, 1, 1),
    ("S4", 8, 256, 56, 56, 64, 1, 1, 1, 0, 1),
    ("S5", 8, 3, 224, 224, 64, 7, 7, 2, 3, 1),
    ("S6", 1, 2, 3, 3, 1, 2, 2, 1, 0, 1),
    ("S7", 8, 128, 56, 56, 128, 3, 3, 1, 1, 128),
]


def flops(c):
    _, n, ci, h, w, k, kh, kw, s, p, g = c
    oh = (h + 2 * p - kh) // s + 1
    ow = (w + 2 * p - kw) // s + 1
    return 2.0 * n * k * (ci // g) * kh * kw * oh * ow


def time_ms(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ms = []
    for _ in range(reps):
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        ms.append(e0.elapsed_time(e1))
    return statistics.median(ms), min(ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours")
    ap.add_argument("--json")
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch bench: SKIPPED (torch.cuda.is_available() is False)")
        return 0
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(0)}")
    ours = None
    if a.ours:
        with open(a.ours) as f:
            ours = {c["id"]: c["results"] for c in json.load(f)["cases"]}
    out = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
           "device": torch.cuda.get_device_name(0), "cases": []}
    print(f"{'shape':6} {'mode':5} {'cuDNN ms':>9} {'GFLOP/s':>9} {'ours ms':>9} {'ours/cuDNN speed':>17} (ours = best variant)")
    for c in CASES:
        cid, n, ci, h, w, k, kh, kw, s, p, g = c
        gen = torch.Generator(device=dev).manual_seed(1)
        x = torch.rand(n, ci, h, w, device=dev, generator=gen) * 2 - 1
        wt = torch.rand(k, ci // g, kh, kw, device=dev, generator=gen) * 2 - 1
        entry = {"id": cid, "flops": flops(c)}
        for mode, tf32 in (("fp32", False), ("tf32", True)):
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            med, mn = time_ms(lambda: F.conv2d(x, wt, stride=s, padding=p, groups=g), a.reps)
            gf = flops(c) / (med * 1e-3) / 1e9
            entry[mode] = {"msMedian": med, "msMin": mn, "gflops": gf}
            line = f"{cid:6} {mode:5} {med:9.4f} {gf:9.1f}"
            if ours and cid in ours:
                best = min((v["msMedian"], name) for name, v in ours[cid].items() if name.endswith(mode))
                entry[mode]["oursBest"] = {"variant": best[1], "msMedian": best[0], "speedRatio": med / best[0]}
                line += f" {best[0]:9.4f} {med / best[0]:16.2f}x ({best[1]})"
            print(line)
        out["cases"].append(entry)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
