"""StarGAN v2's batches: a small set is decoded once and kept, and its batches are the same bits as
when every image is decoded each time (so resume stays exact either way)."""

import torch

from starbatch.train.stargan_v2.data import DomainBatches, domain_splits


def test_a_set_that_fits_is_decoded_once_and_gives_the_same_batches(domain_faces):
    train, _ = domain_splits(domain_faces)
    kept = DomainBatches(train, 4, 32, 16, seed=3)
    decoded_each_time = DomainBatches(train, 4, 32, 16, seed=3, decoded_cache_bytes=0)
    assert kept.keeps_decoded and not decoded_each_time.keeps_decoded
    for k in range(6):
        a, b = kept.make(k), decoded_each_time.make(k)
        for name in ("x_real", "x_ref", "x_ref2", "y_org", "y_trg", "z_trg", "z_trg2"):
            assert torch.equal(getattr(a, name), getattr(b, name)), (k, name)
    assert kept._decoded and not decoded_each_time._decoded
    index = next(iter(kept._decoded))
    assert kept.image(index) is kept._decoded[index]  # not decoded again
