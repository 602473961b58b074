"""One table decides device and precision, for editing and training alike."""

import pytest
import torch

from starbatch.errors import StarbatchError
from starbatch.inference import runtime
from starbatch.inference.runtime import (
    EDIT_PRECISIONS,
    TRAIN_PRECISIONS,
    cpu_flags,
    cpu_runs_natively,
    resolve_precision,
)

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})  # the project's first CPU machine (AMD Zen 3)


def test_auto_is_bf16_on_a_gpu_and_fp32_on_a_cpu():
    # torch.device("cuda") is only a name: no GPU is needed to resolve what a GPU worker will run
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda"), TRAIN_PRECISIONS) == "bf16"


@pytest.mark.parametrize("choices", [EDIT_PRECISIONS, TRAIN_PRECISIONS])
def test_half_precision_on_a_cpu_without_its_instructions_is_refused_on_one_line(choices, monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: AVX2_ONLY)
    with pytest.raises(StarbatchError, match=r"--precision bf16: this CPU has no avx512_bf16 or amx_bf16") as error:
        resolve_precision("bf16", torch.device("cpu"), choices)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("precision", "flag"), [("bf16", "amx_bf16"), ("bf16", "avx512_bf16"),
                                                 ("fp16", "avx512_fp16")])
def test_half_precision_on_a_cpu_with_its_instructions_is_allowed(precision, flag, monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: AVX2_ONLY | {flag})
    assert resolve_precision(precision, torch.device("cpu")) == precision


def test_fp16_is_not_allowed_by_bf16_instructions():
    assert not cpu_runs_natively("fp16", AVX2_ONLY | {"avx512_bf16", "amx_bf16"})


def test_this_cpus_answer_follows_its_cpuinfo_flags():
    with open("/proc/cpuinfo") as info:
        flags = next(line for line in info if line.startswith("flags")).split(":", 1)[1].split()
    assert cpu_flags() == frozenset(flags)
    assert cpu_runs_natively("bf16") == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_a_precision_outside_the_table_names_the_choices():
    with pytest.raises(StarbatchError, match="choose auto, fp32, bf16, fp16"):
        resolve_precision("fp8", torch.device("cuda"))
    with pytest.raises(StarbatchError, match="choose auto, fp32, bf16$"):
        resolve_precision("fp16", torch.device("cuda"), TRAIN_PRECISIONS)  # training has no loss scaler
