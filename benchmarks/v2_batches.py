"""StarGAN v2 training batches (train/stargan_v2/data.py DomainBatches.make): ms per batch with the
set's images kept decoded against decoding every image each time, in the same run.

    python benchmarks/v2_batches.py                 # 200 rendered 128 px faces per domain, 64 px batches

A batch is 3 x batch_size images (sources and a reference pair), each maybe cropped, resized and
flipped. The kept-decoded numbers are after every image has been decoded once (the steady state
from the second epoch on); one thread, as the loader's.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from starbatch.synthetic.domains import make_domain_faces
from starbatch.train.stargan_v2.data import DomainBatches, domain_splits


def ms_per_batch(batches: DomainBatches, count: int) -> float:
    start = time.perf_counter()
    for k in range(count):
        batches.make(k)
    return (time.perf_counter() - start) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200, help="rendered faces per domain")
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        make_domain_faces(Path(folder), ["female", "male"], args.faces, seed=1)
        train, _ = domain_splits(folder)
        for batch_size in (8, 16, 32):
            kept = DomainBatches(train, batch_size, 64, 16)
            for index in range(len(train)):
                kept.image(index)  # every image decoded once: the second epoch on
            each_time = DomainBatches(train, batch_size, 64, 16, decoded_cache_bytes=0)
            decoding, keeping = ms_per_batch(each_time, args.batches), ms_per_batch(kept, args.batches)
            print(f"batch {batch_size}: decoded each time {decoding:.1f} ms, kept decoded {keeping:.1f} ms "
                  f"({decoding / keeping:.2f}x)")


if __name__ == "__main__":
    main()
