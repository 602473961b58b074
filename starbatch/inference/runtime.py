"""Where and in what precision the networks run, decided once, by one table for editing and training.

torch is imported inside the functions: `starbatch train --help` reads the precision names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError

if TYPE_CHECKING:
    import torch

EDIT_PRECISIONS = ("fp32", "bf16", "fp16")
TRAIN_PRECISIONS = ("fp32", "bf16")  # fp16 without a loss scaler would underflow GAN gradients
# The CPU instructions that make half precision worth it; without them PyTorch emulates it: bf16
# measured ~140x slower than fp32 on an AVX2 CPU (benchmarks/results/edit_cpu.md).
NATIVE_CPU_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}


def pick_device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StarbatchError("--device cuda: no CUDA GPU is visible to PyTorch")
    if name not in ("cpu", "cuda"):
        raise StarbatchError(f"--device {name!r}: choose auto, cpu or cuda")
    return torch.device(name)


def check_precision(name: str, choices: tuple[str, ...] = EDIT_PRECISIONS) -> None:
    """Refuse a precision name before anything starts (each worker resolves "auto" for itself)."""
    if name != "auto" and name not in choices:
        raise StarbatchError(f"--precision {name!r}: choose auto, {', '.join(choices)}")


def resolve_precision(name: str, device: torch.device, choices: tuple[str, ...] = EDIT_PRECISIONS) -> str:
    """"auto" is bf16 on a GPU and fp32 on a CPU; half precision on a CPU only where it has the
    instructions for it (NATIVE_CPU_FLAGS), refused elsewhere."""
    check_precision(name, choices)
    if name == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if name != "fp32" and device.type != "cuda" and not cpu_runs_natively(name):
        wanted = " or ".join(NATIVE_CPU_FLAGS[name])
        raise StarbatchError(f"--precision {name}: this CPU has no {wanted}, so {name} would run many times "
                             "slower than fp32 (on AVX2, ~140x); use fp32 (the CPU default) or a GPU")
    return name


def cpu_runs_natively(precision: str, flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU (its /proc/cpuinfo `flags`) has instructions for `precision` arithmetic;
    False where the flags cannot be read (not Linux): then only fp32 is known to be fast."""
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in NATIVE_CPU_FLAGS.get(precision, ()))


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, precision: str):
    """Autocast to `precision` on `device`; off for fp32."""
    import torch

    return torch.autocast(device.type, dtype(precision), enabled=precision != "fp32")


def default_batch_size(device: torch.device) -> int:
    """Images per model batch when not given; measured: benchmarks/results/edit_cpu.md."""
    return 32 if device.type == "cuda" else 8
