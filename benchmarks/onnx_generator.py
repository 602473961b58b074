"""The v1 generator alone on CPU: eager torch against onnxruntime run the ways inference/backends.py
chose between, each as seconds per image and a ratio to eager torch measured in the same run.

- eager torch on all threads (torch.get_num_threads());
- onnxruntime, one run of the batch on that many intra-op threads (how the backend ran before);
- onnxruntime, the batch split into parts of `--part` images run side by side on that many threads,
  each run on one thread (how it runs now; parts of 4 and of 2 when the batch is 8);
- onnxruntime, one thread, with v1's last 7x7 convolution as exported now (a row fold,
  models/row_fold_conv.py) and as a plain convolution, against eager torch on one thread.

Random official-size weights (conv_dim 64, 6 blocks); the instance norms get random affine
parameters so no layer is an identity. Repeats rotate their order; medians.

    python benchmarks/onnx_generator.py --batch 8 --size 128 --repeats 5
"""

import argparse
import io
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from starbatch.inference.onnx_cache import OPSET
from starbatch.models.row_fold_conv import RowFoldConv
from starbatch.models.stargan_v1.networks import Generator, OfficialGraph, official_forward


def session(module: nn.Module, example: tuple, threads: int):
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, buffer, dynamo=False, input_names=["images", "labels"],
                          output_names=["edited"], opset_version=OPSET,
                          dynamic_axes={"images": {0: "batch"}, "labels": {0: "batch"}, "edited": {0: "batch"}})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def split_run(run_session, pool: ThreadPoolExecutor, feed: dict, part: int):
    """The batch in parts of `part` images, each run on one of the pool's threads."""
    count = len(feed["images"])
    parts = [{name: array[start : start + part] for name, array in feed.items()} for start in range(0, count, part)]
    return np.concatenate(list(pool.map(lambda one: run_session.run(None, one)[0], parts)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    generator = Generator(64, 5, 6).eval()
    for layer in generator.modules():
        if isinstance(layer, nn.InstanceNorm2d):
            layer.weight.data.uniform_(0.5, 1.5)
            layer.bias.data.uniform_(-0.2, 0.2)
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    c = torch.randint(0, 2, (args.batch, 5)).float()
    feed = {"images": x.numpy(), "labels": c.numpy()}
    exported = OfficialGraph(generator)  # the last conv already a row fold, as the backend exports it
    plain = OfficialGraph(generator)
    assert isinstance(plain.generator.main[-2], RowFoldConv)
    plain.generator.main[-2] = generator.main[-2]  # the plain 7x7 convolution
    many, one = session(exported, (x, c), threads), session(exported, (x, c), 1)
    plain_one = session(plain, (x, c), 1)
    pool = ThreadPoolExecutor(threads)

    def eager(thread_count: int):
        def run():
            torch.set_num_threads(thread_count)
            with torch.inference_mode():
                official_forward(generator, x, c)
            torch.set_num_threads(threads)
        return run

    groups = {
        f"{threads} threads": {
            "eager torch": eager(threads),
            f"onnxruntime, one run on {threads} intra-op threads": lambda: many.run(None, feed),
            **{f"onnxruntime, parts of {part} side by side, one thread each": (
                lambda part=part: split_run(one, pool, feed, part))
               for part in sorted({max(1, args.batch // threads), max(1, args.batch // (2 * threads))}, reverse=True)},
        },
        "1 thread": {
            "eager torch": eager(1),
            "onnxruntime, last conv a plain 7x7 convolution": lambda: plain_one.run(None, feed),
            "onnxruntime, last conv a row fold (as exported)": lambda: one.run(None, feed),
        },
    }
    with torch.inference_mode():
        reference = official_forward(generator, x, c).numpy()
    worst = {"row fold": np.abs(one.run(None, feed)[0] - reference).max(),
             "split": np.abs(split_run(one, pool, feed, 2) - reference).max()}
    print(f"v1 G, {args.size} px, batch {args.batch}, torch {torch.__version__}, {threads} threads available; "
          f"seconds per image, median of {args.repeats}; ratio = eager torch / this (same group, same repeat)")
    for group, runs in groups.items():
        times: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for fn in runs.values():
            fn()  # warm-up
        for repeat in range(args.repeats):
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:
                start = time.perf_counter()
                runs[name]()
                times[name].append((time.perf_counter() - start) / args.batch)
        print(group)
        for name, values in times.items():
            ratios = [b / t for b, t in zip(times["eager torch"], values, strict=True)]
            print(f"  {name:58s} {statistics.median(values):7.4f} s  x{statistics.median(ratios):.2f}")
    print(f"max |onnxruntime - eager torch|: row fold graph {worst['row fold']:.1e}, split batch {worst['split']:.1e}")


if __name__ == "__main__":
    main()
