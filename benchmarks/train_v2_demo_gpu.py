"""One device call that trains a StarGAN v2 demo model on one CUDA GPU and scores it (issue 15).

The bundled v2 demo model reached 0.69 / 0.62 of the judge's accuracy (real faces 0.995) after
8500 CPU steps (docs/MODEL_CARD_V2.md); the goal is within 5 points of real. A GPU session has
15 minutes of device time and 10-minute commands, so this script does the whole run in one
command, inside --budget-s:

1. a short calibration run (CALIBRATION iterations, discarded) measures iterations per second;
2. a fresh run of as many iterations as the rest of the budget holds after the evaluation's
   share, lambda_ds decaying over all of them (the official schedule: ds_iter = total_iters);
3. `starbatch eval` on the held-out set;
4. into --out: the model in fp16 (what `examples/ship_demo_model.py` would ship), eval.json,
   eval_bundled.json (the bundled model on the same judge, scored while the GPU trains, which
   trains and caches the judge), the last latent- and reference-guided sample grids, log.jsonl,
   summary.md and the steps' output, output.txt (8 files, one folder: the device returns at most 8).

The data is made beforehand (rendering 6000 faces takes minutes on one core) and carried:

    starbatch make-faces .v2data/data --domains female,male --n 2000 --seed 21
    starbatch make-faces .v2data/heldout --domains female,male --n 1000 --seed 4242
    python benchmarks/train_v2_demo_gpu.py --data .v2data/data --heldout .v2data/heldout --out $OUT
    python benchmarks/train_v2_demo_gpu.py --data D --heldout H --out DIR --dry-run   # CPU, tiny

On the device: `echo /.v2data/ >> .git/info/exclude` here first, then one `run` with the third
line as its command, `carry: [".v2data"]` (about 30 MB) and `timeout_s: 600`; commit what comes
back under benchmarks/results/ and, if eval.json meets the goal, ship the model.

Each step runs starbatch from this checkout in a subprocess (gpu_check.py's BOOT: no install
needed; PyAV, pillow-heif and Ray, which the device image lacks, are not imported by train or
eval), with its own time limit. --dry-run runs the same steps on the CPU with tiny networks and
a few iterations, so tests/benchmarks/ keeps the script from rotting.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_check import BOOT, REPO, versions  # noqa: E402 (this folder's sibling script)

BUNDLED_V2 = REPO / "starbatch" / "models" / "demo_v2.safetensors"
CALIBRATION = 150  # iterations timed before the real run; the first FIRST_TIMED are warm-up
FIRST_TIMED = 50
LOG_BYTES = 8_000_000  # the device returns files of 16 MiB at most; ~700 bytes a logged iteration
EVAL_SHARE_S = 150  # seconds kept for eval and packing (the judge trains for 25 epochs on the CPU)
# The GPU run's networks: twice the bundled model's widths (it is 2.7 MB in fp16; this one 10.2 MB),
# batch 16 (its faces kept decoded, the loader makes such a batch in ~10 ms on one core:
# benchmarks/results/v2_batches_cpu.md).
GPU_SHAPE = ["--image-size", "64", "--dim-in", "32", "--max-conv-dim", "256", "--hidden-dim", "256",
             "--batch-size", "16"]
DRY_SHAPE = ["--image-size", "32", "--dim-in", "8", "--max-conv-dim", "16", "--hidden-dim", "16",
             "--batch-size", "2"]


def start(argv: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """`starbatch ARGV` from this checkout, started, its output appended to `log`."""
    with open(log, "a") as out:
        out.write(f"\n$ {shlex.join(['starbatch', *argv])}\n")
        out.flush()
        command = [sys.executable, "-c", BOOT, str(REPO), "-m", "starbatch", *argv]
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)


def finished(process: subprocess.Popen, log: Path, limit: float) -> int | None:
    """The process's exit status once it ends, within `limit` seconds (None: killed at the limit)."""
    try:
        return process.wait(timeout=max(limit, 1))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        with open(log, "a") as out:
            out.write(f"[train_v2_demo_gpu: killed at its {limit:.0f} s limit]\n")
        return None


def starbatch(argv: list[str], log: Path, limit: float) -> int | None:
    """`starbatch ARGV` run to its end or to `limit` seconds; its exit status (None: killed)."""
    return finished(start(argv, log), log, limit)


def iterations_per_second(log_jsonl: Path, warm_up: int) -> float:
    """From a run's log: iterations per second after the first `warm_up`."""
    rows = [json.loads(line) for line in log_jsonl.read_text().splitlines() if line.strip()]
    timed = [row for row in rows if row["step"] > warm_up]
    if len(timed) < 2:
        raise SystemExit(f"{log_jsonl}: too few iterations to time")
    return (timed[-1]["step"] - timed[0]["step"]) / (timed[-1]["time"] - timed[0]["time"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="make-faces --domains set to train on")
    parser.add_argument("--heldout", type=Path, required=True, help="another seed's set, for eval")
    parser.add_argument("--out", type=Path, required=True, help="folder for the 8 result files")
    parser.add_argument("--work", type=Path, default=Path("/tmp/train_v2_demo_gpu"), help="the runs' folders")
    parser.add_argument("--budget-s", type=float, default=540, help="the whole script's limit")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny networks, a few iterations")
    args = parser.parse_args()
    started = time.monotonic()
    facts = versions(args.dry_run)
    if not args.dry_run and facts["device"].startswith("CPU"):
        print("no CUDA device: nothing to train here (--dry-run checks the script on the CPU)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.work, ignore_errors=True)
    log, output = args.out / "summary.md", args.out / "output.txt"  # the steps' own output goes to output.txt
    log.write_text(f"# train_v2_demo_gpu: {'CPU DRY RUN (numbers mean nothing)' if args.dry_run else 'CUDA'}\n\n"
                   f"command: `{shlex.join(['python', 'benchmarks/train_v2_demo_gpu.py', *sys.argv[1:]])}`\n"
                   + "".join(f"{key}: {value}\n" for key, value in facts.items()) + "\n")
    shape = DRY_SHAPE if args.dry_run else GPU_SHAPE
    device = ["--device", "cpu"] if args.dry_run else ["--device", "cuda"]
    common = ["train", "--family", "v2", "--data", str(args.data), "--w-hpf", "0", *shape, *device]

    def left() -> float:
        return args.budget_s - (time.monotonic() - started)

    # The judge (25 epochs, on the CPU) learns while the GPU trains: scoring the bundled model
    # first caches it for the new model's eval, and scores the bundled one on the same judge.
    epochs = ["--classifier-epochs", "1"] if args.dry_run else []
    judge, bundled_log = args.work / "judge", args.work / "bundled_eval.txt"
    args.work.mkdir(parents=True)
    bundled = start(["eval", str(BUNDLED_V2), "--data", str(args.heldout), "--json",
                     str(args.out / "eval_bundled.json"), "--cache-dir", str(judge), *epochs], bundled_log,
                    env=dict(os.environ, OMP_NUM_THREADS=str(max((os.cpu_count() or 2) // 2, 1))))

    warm_up = FIRST_TIMED if not args.dry_run else 2
    calibration = CALIBRATION if not args.dry_run else warm_up + 3
    rc = starbatch([*common, "--iters", str(calibration), "--ds-iter", str(calibration), "--sample-every", "0",
                    "--checkpoint-every", "0", "--out", str(args.work / "calibration")], output, left() - EVAL_SHARE_S)
    if rc != 0:
        return _finish(log, f"calibration run failed (exit {rc})", started)
    rate = iterations_per_second(args.work / "calibration" / "log.jsonl", warm_up)
    spare = left() - EVAL_SHARE_S - 30  # 30 s: the run's start, its last samples and model file
    iters = 4 if args.dry_run else max(int(rate * spare * 0.95), 100)
    with open(log, "a") as out:
        out.write(f"\ncalibration: {rate:.2f} it/s; {spare:.0f} s left for training: {iters} iterations\n")
    run = args.work / "run"
    every = max(iters // 4, 1)
    rc = starbatch([*common, "--iters", str(iters), "--ds-iter", str(iters), "--sample-every", str(every),
                    "--checkpoint-every", str(every), "--out", str(run)], output, left() - EVAL_SHARE_S + 60)
    if rc != 0:
        return _finish(log, f"training run failed or was cut off (exit {rc})", started)
    model = args.out / "demo_v2.safetensors"
    if _ship(run / "model.safetensors", model, output) != 0:
        return _finish(log, "writing the fp16 model failed", started)
    bundled_rc = finished(bundled, bundled_log, left() - 60)
    with open(output, "a") as out:
        out.write(bundled_log.read_text())
    rc = starbatch(["eval", str(model), "--data", str(args.heldout), "--json", str(args.out / "eval.json"),
                    "--cache-dir", str(judge), *epochs], output, left() - 5)
    for name, pattern in (("latent.png", "*-latent.png"), ("reference.png", "*-reference.png")):
        grids = sorted((run / "samples").glob(pattern))
        if grids:
            shutil.copy(grids[-1], args.out / name)
    _thinned(run / "log.jsonl", args.out / "log.jsonl")
    if rc != 0:
        return _finish(log, f"eval failed (exit {rc})", started)
    report = json.loads((args.out / "eval.json").read_text())
    scores = {f"{mode} {key}": round(report[mode][key], 3) for mode in ("latent", "reference", "real")
              for key in ("judge_accuracy", "diversity_l1", "frechet_judge_features") if key in report[mode]}
    scores["reconstruction_l1"] = round(report["reconstruction_l1"], 3)
    line = f"done: {iters} iterations; " + json.dumps(scores)
    if bundled_rc == 0:
        bundled_report = json.loads((args.out / "eval_bundled.json").read_text())
        line += "; the bundled model on the same judge: " + json.dumps(
            {mode: round(bundled_report[mode]["judge_accuracy"], 3) for mode in ("latent", "reference")})
    return _finish(log, line, started, ok=True)


def _ship(source: Path, target: Path, log: Path) -> int:
    """The run's model in fp16 at `target`, as the bundled one is shipped."""
    with open(log, "a") as out:
        command = [sys.executable, "-c", BOOT, str(REPO), "examples/ship_demo_model.py", str(source), str(target)]
        return subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT).returncode


def _thinned(source: Path, target: Path, limit: int = LOG_BYTES) -> None:
    """The run's log, every n-th line (and the last) where the whole would pass `limit` bytes."""
    lines = source.read_text().splitlines(keepends=True)
    every = -(-source.stat().st_size // limit)
    kept = lines if every <= 1 else lines[every - 1 :: every] + ([lines[-1]] if len(lines) % every else [])
    target.write_text("".join(kept))


def _finish(log: Path, line: str, started: float, ok: bool = False) -> int:
    with open(log, "a") as out:
        out.write(f"\n{line}\n\ntotal: {time.monotonic() - started:.0f} s (the steps' output: output.txt)\n")
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
