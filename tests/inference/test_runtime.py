"""One table decides device and precision, for editing and training alike."""

import pytest
import torch

from starbatch.errors import StarbatchError
from starbatch.inference.runtime import EDIT_PRECISIONS, TRAIN_PRECISIONS, resolve_precision


def test_auto_is_bf16_on_a_gpu_and_fp32_on_a_cpu():
    # torch.device("cuda") is only a name: no GPU is needed to resolve what a GPU worker will run
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda"), TRAIN_PRECISIONS) == "bf16"


@pytest.mark.parametrize("choices", [EDIT_PRECISIONS, TRAIN_PRECISIONS])
def test_half_precision_on_a_cpu_is_refused_on_one_line(choices):
    with pytest.raises(StarbatchError, match="--precision bf16 needs a GPU"):
        resolve_precision("bf16", torch.device("cpu"), choices)


def test_a_precision_outside_the_table_names_the_choices():
    with pytest.raises(StarbatchError, match="choose auto, fp32, bf16, fp16"):
        resolve_precision("fp8", torch.device("cuda"))
    with pytest.raises(StarbatchError, match="choose auto, fp32, bf16$"):
        resolve_precision("fp16", torch.device("cuda"), TRAIN_PRECISIONS)  # training has no loss scaler
