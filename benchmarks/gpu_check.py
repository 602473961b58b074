"""One command for a CUDA machine: test the kernels on the GPU, then measure them, the generators
and training, in at most 7 minutes, everything written under --out.

    python benchmarks/gpu_check.py --out DIR               # on a CUDA machine (issue 16)
    python benchmarks/gpu_check.py --out DIR --dry-run     # on the CPU: every part, tiny, numbers meaningless

Parts, each a subprocess with its own time limit (the whole run stays under --budget-s), each
writing one text file in DIR as it goes, so a part cut off by its limit still leaves its output:
  tests.txt      tests/kernels and tests/models/test_generator_fused.py with STARBATCH_TEST_DEVICE=cuda and
                 TRITON_INTERPRET unset: compiled Triton, fp32/fp16/bf16, backward passes, the race check
  kernels.txt    benchmarks/kernels.py: GB/s of each fused norm vs eager, torch.compile and the copy bandwidth
  generator.txt  benchmarks/generator.py: images/s of the v1 and v2 generators, ratios
  train.txt      benchmarks/train_speed.py: iterations/s of the official v1 training configuration
  summary.md     the command, device, versions, each part's pass/fail, time and summary lines
Five files in one folder: the GPU machine returns at most 8 files, 2 folders deep.

Exit status: on CUDA, non-zero only if a GPU test fails (or cannot finish); benchmark failures are
reported in summary.md. Without CUDA it says what it skips and exits 0. --dry-run runs every part
on the CPU (the reference backend, the Triton interpreter for the tests, tiny shapes, one thread)
and exits non-zero if any part fails, so tests/benchmarks/ can keep the script from rotting.

The parts import starbatch from this checkout even where it is not installed (a bare GPU machine):
a meta-path finder maps starbatch.kernels and starbatch.train to kernels/ and train/, as
pyproject's package-dir does.
"""

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# part -> seconds on the GPU; their sum stays under the 420 s of issue 16 with room for startup
GPU_BUDGETS = {"tests": 150, "kernels": 75, "generator": 140, "train": 45}
# starts each part: finds starbatch.kernels/train in this checkout when no install maps them, then
# runs the script or module named in argv as __main__
BOOT = r"""
import importlib.abc, importlib.util, runpy, sys
from pathlib import Path
REPO = Path(sys.argv[1])
class Layout(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        folder = {"starbatch.kernels": "kernels", "starbatch.train": "train"}.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, REPO / folder / "__init__.py", submodule_search_locations=[str(REPO / folder)])
sys.meta_path.append(Layout())  # after the others: an installed starbatch wins
sys.path.insert(0, str(REPO))
sys.argv = sys.argv[2:]
if sys.argv[0] == "-m":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def part_commands(args) -> dict[str, list[str]]:
    """part -> argv after the boot script (a script path, or -m and a module)."""
    tests = ["tests/kernels", "tests/models/test_generator_fused.py"]
    if args.dry_run:
        tests = ["tests/kernels/test_repeatability.py", "-k", args.tests_k or "fp32"]
    elif args.tests_k:
        tests += ["-k", args.tests_k]
    if not args.dry_run and _has_module("xdist"):
        tests += ["-n", "4"]  # Triton compiles each kernel specialisation once per process: in parallel
    dry = ["--dry-run"] if args.dry_run else []
    generator_budget = max(GPU_BUDGETS["generator"] - 25, 10)  # stop starting work before the kill
    return {
        "tests": ["-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *tests],
        "kernels": ["benchmarks/kernels.py", *dry, "--budget-s", str(GPU_BUDGETS["kernels"] - 20),
                    *(["--only", args.kernels_only] if args.kernels_only else [])],
        "generator": ["benchmarks/generator.py", *dry, "--budget-s", str(generator_budget),
                      *(["--dtypes", *args.dtypes] if args.dtypes else [])],
        "train": ["benchmarks/train_speed.py", *dry],
    }


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def part_environment(dry_run: bool) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if dry_run:
        env.update(STARBATCH_TEST_DEVICE="cpu", TRITON_INTERPRET="1", OMP_NUM_THREADS="1")
    else:
        env["STARBATCH_TEST_DEVICE"] = "cuda"
        env.pop("TRITON_INTERPRET", None)  # compiled kernels, not the interpreter
    return env


def run_part(name: str, argv: list[str], out: Path, limit: float, env: dict) -> dict:
    """Run one part with its output streamed to out/<name>.txt; its status, time and summary lines."""
    path = out / f"{name}.txt"
    command = [sys.executable, "-c", BOOT, str(REPO), *argv]
    started = time.monotonic()
    with open(path, "w") as log:
        log.write(f"$ {shlex.join(['python', *argv])}\n")
        log.flush()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            rc = process.wait(timeout=limit)
            status = "pass" if rc == 0 else f"FAIL (exit {rc})"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)  # its own session: the part and any workers it started
            process.wait()
            rc, status = None, f"TIMED OUT after {limit:.0f} s (output up to then kept)"
            with open(path, "a") as tail:
                tail.write(f"\n[gpu_check: killed at its {limit:.0f} s limit]\n")
    seconds = time.monotonic() - started
    lines = path.read_text(errors="replace").splitlines()
    summary = [line for line in lines if line.startswith("summary:")]
    if name == "tests":
        summary += [line for line in lines[-3:] if " passed" in line or " failed" in line or " error" in line]
    return {"name": name, "status": status, "ok": rc == 0, "seconds": seconds, "summary": summary,
            "file": path.name}


def versions(dry_run: bool) -> dict[str, str]:
    """Python, torch and triton versions and the device; the dry run does not import torch for it."""
    from importlib import metadata

    facts = {"python": platform.python_version(), "machine": platform.machine()}
    for package in ("torch", "triton"):
        try:
            facts[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[package] = "not installed"
    if dry_run:
        facts["device"] = "CPU (dry run)"
        return facts
    try:
        import torch

        facts["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (no CUDA)"
    except ImportError:
        facts["device"] = "CPU (no torch)"
    return facts


def write_summary(out: Path, argv: list[str], mode: str, facts: dict, results: list[dict], started: float,
                  note: str = "") -> None:
    lines = [f"# gpu_check: {mode}", "", f"command: `{shlex.join(['python', 'benchmarks/gpu_check.py', *argv])}`",
             f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"]
    lines += [f"{key}: {value}" for key, value in facts.items()]
    lines += [f"total: {time.monotonic() - started:.0f} s", ""]
    if note:
        lines += [note, ""]
    if results:
        lines += ["| part | status | seconds | file |", "| --- | --- | --- | --- |"]
        lines += [f"| {r['name']} | {r['status']} | {r['seconds']:.0f} | {r['file']} |" for r in results]
        lines.append("")
        for r in results:
            lines += [f"## {r['name']}", "", *(f"    {s}" for s in r["summary"] or ["(no summary line)"]), ""]
    (out / "summary.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the result files")
    parser.add_argument("--dry-run", action="store_true", help="every part on the CPU, tiny (numbers mean nothing)")
    parser.add_argument("--parts", nargs="+", choices=GPU_BUDGETS, default=list(GPU_BUDGETS))
    parser.add_argument("--budget-s", type=float, default=420, help="the whole run's limit (issue 16: 7 min)")
    parser.add_argument("--tests-k", help="pytest -k expression for the tests part")
    parser.add_argument("--kernels-only", help="only kernel rows whose op name contains this")
    parser.add_argument("--dtypes", nargs="+", choices=("fp32", "bf16"), help="generator dtypes")
    args = parser.parse_args()
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    facts = versions(args.dry_run)
    mode = "CPU DRY RUN (numbers mean nothing)" if args.dry_run else "CUDA"
    if not args.dry_run and facts.get("device", "").startswith("CPU"):
        skipped = ", ".join(args.parts)
        message = (f"no CUDA device: skipped {skipped} (nothing here measures a GPU); "
                   "--dry-run checks the script on the CPU")
        print(message)
        write_summary(args.out, sys.argv[1:], "skipped: no CUDA", facts, [], started, message)
        return 0
    print(f"gpu_check: {mode}, {facts.get('device')}, torch {facts.get('torch')}, triton {facts.get('triton')}",
          flush=True)
    env = part_environment(args.dry_run)
    commands = part_commands(args)
    results = []
    for name in args.parts:
        left = args.budget_s - (time.monotonic() - started)
        limit = min(GPU_BUDGETS[name], left) if not args.dry_run else left
        if limit < 5:
            results.append({"name": name, "status": "skipped (whole budget spent)", "ok": False, "seconds": 0,
                            "summary": [], "file": "-"})
            continue
        result = run_part(name, commands[name], args.out, limit, env)
        results.append(result)
        print(f"  {name:10s} {result['status']:10s} {result['seconds']:6.0f} s  -> {result['file']}", flush=True)
        for line in result["summary"]:
            print(f"             {line}")
        write_summary(args.out, sys.argv[1:], mode, facts, results, started)  # after each part: a kill keeps it
    write_summary(args.out, sys.argv[1:], mode, facts, results, started)
    if args.dry_run:
        return 0 if all(r["ok"] for r in results) else 1
    tests = [r for r in results if r["name"] == "tests"]
    return 0 if all(r["ok"] for r in tests) else 1


if __name__ == "__main__":
    sys.exit(main())
