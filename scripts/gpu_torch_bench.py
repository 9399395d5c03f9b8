#!/usr/bin/env python3
"""PyTorch/cuDNN on the benchmark shapes (S1-S7, S1 at batch 64) in the three directions of
channelconv_cuda_bench: forward (F.conv2d), backward-data and backward-weights (the weight gradient
alone), both through aten.convolution_backward with one output selected (cuDNN's own backward
kernels). Precisions: fp32 with TF32 off, TF32 on, and bf16 (forward under torch.autocast, backward
on bfloat16 tensors). Timed with CUDA events after warm-up (median of the timed runs). With
--ours PATH (channelconv_cuda_bench's JSON) it prints cuDNN time / channelconv time per shape,
direction and precision (> 1: channelconv is faster; ours = its best variant there).
Usage: python3 scripts/gpu_torch_bench.py [--ours cuda_bench.json] [--json out.json] [--reps N]
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F

# id, N, C, H, W, K, KH, KW, stride, pad, groups: bench/shapes.json
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
# channelconv_cuda_bench's result keys: the variant name, prefixed per direction.
DIRECTIONS = (("fwd", ""), ("bwd_data", "bwd_data_"), ("bwd_weights", "bwd_weights_"))
MODES = ("fp32", "tf32", "bf16")


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


def ours_best(results, prefix, mode):
    """channelconv's fastest variant of one direction and precision: (ms, name) or None."""
    names = [n for n in results if n.endswith("_" + mode) and
             (n.startswith(prefix) if prefix else not n.startswith("bwd_"))]
    return min(((results[n]["msMedian"], n) for n in names), default=None)


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
        try:
            with open(a.ours) as f:
                ours = {c["id"]: c["results"] for c in json.load(f)["cases"]}
        except (OSError, ValueError, KeyError) as e:
            print(f"cannot read {a.ours} ({e}): no ratios")
    out = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
           "device": torch.cuda.get_device_name(0), "cases": []}
    print(f"{'shape':6} {'direction':11} {'mode':5} {'cuDNN ms':>9} {'GFLOP/s':>9} {'ours ms':>9} "
          f"{'cuDNN/ours':>10} (ours = best variant)")
    for c in CASES:
        cid, n, ci, h, w, k, kh, kw, s, p, g = c
        gen = torch.Generator(device=dev).manual_seed(1)
        x32 = torch.rand(n, ci, h, w, device=dev, generator=gen) * 2 - 1
        w32 = torch.rand(k, ci // g, kh, kw, device=dev, generator=gen) * 2 - 1
        dy32 = torch.rand_like(F.conv2d(x32, w32, stride=s, padding=p, groups=g)) * 2 - 1
        entry = {"id": cid, "flops": flops(c)}
        for mode in MODES:
            tf32 = mode == "tf32"
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            dt = torch.bfloat16 if mode == "bf16" else torch.float32
            x, wt, dy = x32.to(dt), w32.to(dt), dy32.to(dt)

            def backward(mask):
                return lambda: torch.ops.aten.convolution_backward(
                    dy, x, wt, None, [s, s], [p, p], [1, 1], False, [0, 0], g, mask)

            def forward():
                if mode == "bf16":
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        return F.conv2d(x32, w32, stride=s, padding=p, groups=g)
                return F.conv2d(x32, w32, stride=s, padding=p, groups=g)

            fns = {"fwd": forward, "bwd_data": backward([True, False, False]),
                   "bwd_weights": backward([False, True, False])}
            for direction, prefix in DIRECTIONS:
                med, mn = time_ms(fns[direction], a.reps)
                gf = flops(c) / (med * 1e-3) / 1e9
                key = f"{direction}_{mode}"
                entry[key] = {"msMedian": med, "msMin": mn, "gflops": gf}
                line = f"{cid:6} {direction:11} {mode:5} {med:9.4f} {gf:9.1f}"
                best = ours_best(ours[cid], prefix, mode) if ours and cid in ours else None
                if best:
                    entry[key]["oursBest"] = {"variant": best[1], "msMedian": best[0], "speedRatio": med / best[0]}
                    line += f" {best[0]:9.4f} {med / best[0]:9.2f}x ({best[1]})"
                print(line, flush=True)
        out["cases"].append(entry)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
