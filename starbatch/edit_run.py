"""`starbatch edit` from plan to summary: find files, run the engine with a progress bar, report."""

import sys
import time
from pathlib import Path

from tqdm import tqdm

from starbatch.editing import Editor
from starbatch.engine import Outcome, run_edit
from starbatch.jobs import plan_jobs
from starbatch.progress import Progress


def edit_photos(inputs: list[Path], out_dir: Path, editor: Editor, batch_size: int = 16,
                crop_only: bool = False, overwrite: bool = False,
                max_pixels: int = 89_478_485, run=run_edit, faces: str = "detect") -> dict:
    """Edit every image under `inputs`; returns the report (also the source of the summary).

    `run` is the engine: `engine.run_edit` in-process, or `RayEngine.run_edit` (same arguments).
    `faces`: "detect" (every face found; a photo with none fails) or "center" (the central square).
    """
    start = time.perf_counter()
    plan = plan_jobs(inputs, out_dir, overwrite, crop_only)
    failures = [{"input": str(path), "error": cause} for path, cause in plan.problems]
    for failure in failures:
        tqdm.write(f"failed  {failure['input']}: {failure['error']}", file=sys.stderr)
    if not plan.jobs and not plan.skipped and not plan.problems:
        tqdm.write(f"no images (jpg, png, webp, bmp, tiff) found in {', '.join(map(str, inputs))}",
                   file=sys.stderr)
    if plan.skipped:
        tqdm.write(f"skipping {len(plan.skipped)} already edited (use --overwrite to redo)",
                   file=sys.stderr)
    files = [{"input": str(j.source), "output": str(j.output), "status": "skipped"}
             for j in plan.skipped]
    progress = Progress(total=len(plan.jobs), unit="img", desc="editing", file=sys.stderr,
                        dynamic_ncols=True, disable=not plan.jobs, warmup=min(batch_size, len(plan.jobs)))

    def show(outcome: Outcome) -> None:
        if outcome.status == "failed":
            progress.write(f"failed  {outcome.job.source}: {outcome.error}", file=sys.stderr)
        progress.update(1)

    outcomes = run(plan.jobs, editor, batch_size, crop_only, max_pixels, on_outcome=show, faces=faces)
    progress.close()
    seconds = time.perf_counter() - start
    for outcome in outcomes:
        entry = {"input": str(outcome.job.source), "output": str(outcome.job.output),
                 "status": outcome.status}
        if outcome.error:
            entry["error"] = outcome.error
            failures.append({"input": entry["input"], "error": outcome.error})
        files.append(entry)
    edited = sum(o.status == "edited" for o in outcomes)
    summary = {
        "model": str(editor.model.path),
        "output_folder": str(out_dir),
        "faces": faces,
        "edited": edited,
        "skipped": len(plan.skipped),
        "failed": len(failures),
        "seconds": round(seconds, 3),
        "images_per_second": round(edited / seconds, 3) if seconds > 0 else 0.0,
        "failures": failures,
        "files": files,
    }
    print(f"edited {edited}, skipped {len(plan.skipped)}, failed {len(failures)} "
          f"in {seconds:.1f} s ({summary['images_per_second']:.2f} images/s) -> {out_dir}",
          file=sys.stderr)
    return summary
