"""The Ray engine: the same batch function in Ray actors, over image shards or video segments.

Started only for `--workers N`, `--address ADDR` or RAY_ADDRESS; otherwise jobs run in-process
with no Ray start-up. Each actor builds its Editor once in `__init__` (one GPU each where CUDA is,
CPU otherwise) and takes whole shards:
- images: the actor decodes, edits and writes its outputs atomically (a shared file system is
  assumed, as for the inputs) and returns outcomes; the driver makes the same summary as in-process;
- video: the actors first make the clip's regular detector passes over their keyframe-aligned
  segments and the driver follows the faces through the whole clip from them; then each actor
  decodes its segment again, edits it with its frames' crops and encodes it into an MP4 in memory,
  and the driver joins the segments in order with the audio (video.join).

A worker that dies (RayActorError) is replaced and its shard redone. Nothing is written twice:
image outputs are renamed into place only when complete, and a redo skips every output written
since the run started (the dead worker's finished files); video segments are written by the driver
only, once, after all of them came back.
"""

import math
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from starbatch.engines.photos import Outcome, by_photo, run_edit
from starbatch.engines.video import (
    PlannedFrame,
    SegmentResult,
    edit_segment_to_bytes,
    fix_clip,
    follow_clip,
    segment_searches,
    summarize,
    without_face,
)
from starbatch.engines.video_parts import SegmentParts
from starbatch.errors import StarbatchError
from starbatch.extras import RAY, require
from starbatch.inference.editor import EditorSpec
from starbatch.media.images import DEFAULT_MAX_PIXELS
from starbatch.media.jobs import Job
from starbatch.media.video import EncodeSettings, Segment, VideoInfo, join, plan_segments, probe

MAX_ATTEMPTS = 3  # per shard: a shard that kills three workers is reported, not retried forever


class EditWorker:
    """A Ray actor: loads the model once, then edits whole shards with the batch function."""

    def __init__(self, spec: EditorSpec, torch_threads: int | None = None):
        import torch

        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.editor = spec.build()  # "auto" device and precision resolve here, on the worker

    def edit_jobs(self, jobs: list[Job], batch_size: int, crop_only: bool, max_pixels: int,
                  faces: str = "detect", no_face: str = "copy") -> list[Outcome]:  # fmt: skip
        return run_edit(jobs, self.editor, batch_size, crop_only, max_pixels, faces=faces, no_face=no_face)

    def search_segment(self, info: VideoInfo, segment: Segment) -> dict:
        return segment_searches(info, segment, self.editor.min_face)

    def edit_segment(self, info: VideoInfo, segment: Segment, settings: EncodeSettings, batch_size: int,
                     faces: str = "detect", planned: list[PlannedFrame] | None = None,
                     ) -> tuple[bytes, SegmentResult]:  # fmt: skip
        return edit_segment_to_bytes(info, segment, self.editor, settings, batch_size, faces, planned)


class RayEngine:
    """A pool of `worker_class` actors (EditWorker or a subclass) on a local or remote Ray cluster."""

    def __init__(self, spec: EditorSpec, workers: int | None = None, address: str | None = None,
                 worker_class: type = EditWorker):  # fmt: skip
        ray = require(*RAY, "the Ray engine (--workers, --address)")

        if not ray.is_initialized():
            ray.init(address=address or None, include_dashboard=False, logging_level="ERROR",
                     configure_logging=True)  # fmt: skip
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if not gpus and spec.precision not in ("auto", "fp32"):  # else every worker would die building its Editor
            raise StarbatchError(f"--precision {spec.precision} needs a GPU; this Ray cluster has none")
        self.workers = workers or gpus or 2
        if gpus:
            options = {"num_gpus": 1, "num_cpus": 1}
            threads = None
        else:
            # Share the CPUs: more actors than cores would otherwise wait forever for a slot.
            share = max(0.01, math.floor(resources.get("CPU", 1) / self.workers * 100) / 100)
            options = {"num_cpus": min(share, 1.0) if share < 1 else math.floor(share)}
            threads = max(1, math.floor(share))
        self.spec = spec
        self._threads = threads
        self._actor_class = ray.remote(worker_class).options(**options)
        self.model_path = spec.model_path
        self.actors_started = 0
        self._kept: list = []  # actors a `keep` call left running for the next call

    def close(self) -> None:
        """Stop the actors a `keep` call left running."""
        import ray

        for actor in self._kept:
            ray.kill(actor, no_restart=True)
        self._kept = []

    def _new_actor(self):
        self.actors_started += 1
        return self._actor_class.remote(self.spec, self._threads)

    def map_shards(self, shards: Sequence, call: Callable, on_result: Callable = lambda i, r: None,
                   keep: bool = False) -> list:  # fmt: skip
        """Run `call(actor, shard)` for every shard over the pool, replacing actors that die. The
        actors are stopped at the end, or with `keep` left for the next call (their models loaded)."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        results = [None] * len(shards)
        waiting = deque(range(len(shards)))
        attempts = [0] * len(shards)
        idle, self._kept = self._kept, []
        idle += [self._new_actor() for _ in range(min(self.workers, len(shards)) - len(idle))]
        running: dict = {}
        finished = False
        try:
            while waiting or running:
                while waiting and idle:
                    actor, index = idle.pop(), waiting.popleft()
                    attempts[index] += 1
                    running[call(actor, shards[index])] = (actor, index)
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, index = running.pop(ref)
                try:
                    results[index] = ray.get(ref)
                except RayTaskError as error:
                    cause = error.cause if isinstance(error.cause, BaseException) else error
                    raise cause from None
                except RayActorError as error:
                    ray.kill(actor, no_restart=True)
                    if attempts[index] >= MAX_ATTEMPTS:
                        raise StarbatchError(f"Ray workers died {attempts[index]} times on one shard; "
                                             f"last: {str(error).splitlines()[0]}") from None
                    waiting.appendleft(index)  # redo it first, on a fresh worker
                    idle.append(self._new_actor())
                    continue
                idle.append(actor)
                on_result(index, results[index])
            finished = True
        finally:
            if keep and finished:
                self._kept = idle
            else:
                for actor in idle + [a for a, _ in running.values()]:
                    ray.kill(actor, no_restart=True)
        return results

    def run_edit(self, jobs: list[Job], batch_size: int = 16, crop_only: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, on_outcome: Callable[[Outcome], None] = lambda o: None,
                 faces: str = "detect", no_face: str = "copy") -> list[Outcome]:  # fmt: skip
        """`photos.run_edit` over the pool, in image shards: the same arguments and outcomes."""
        started_ns = time.time_ns()
        photos = by_photo(jobs)  # a photo's outputs stay in one shard: decoded there once
        size = max(1, min(4 * batch_size, math.ceil(len(photos) / max(1, self.workers))))
        shards = [[job for group in photos[i : i + size] for job in group] for i in range(0, len(photos), size)]
        outcomes: list[Outcome] = []

        def call(actor, shard: list[Job]):
            # On a redo, outputs the dead worker finished are done: renamed into place only when
            # complete, they are never written a second time.
            done = [job for job in shard if _written_since(job.output, started_ns)]
            outcomes.extend(record(Outcome(job, "edited")) for job in done)
            todo = [job for job in shard if job not in done]
            return actor.edit_jobs.remote(todo, batch_size, crop_only, max_pixels, faces, no_face)

        def record(outcome: Outcome) -> Outcome:
            on_outcome(outcome)
            return outcome

        self.map_shards(shards, call, lambda i, result: outcomes.extend(record(o) for o in result))
        return outcomes


def _written_since(path: Path, started_ns: int) -> bool:
    try:
        return path.stat().st_mtime_ns >= started_ns
    except FileNotFoundError:
        return False


def edit_video_ray(input_path: Path, output: Path, spec: EditorSpec, settings: EncodeSettings,
                   workers: int | None = None, address: str | None = None, batch_size: int = 8,
                   progress: bool = True, faces: str = "detect", worker_class: type = EditWorker,
                   no_face: str = "copy", resume: dict | None = None) -> dict:  # fmt: skip
    """`starbatch video` on Ray: keyframe-aligned segments edited in parallel, joined in order;
    each kept as it arrives, so a rerun with the same settings (`resume`) and workers edits only
    the segments not yet kept (engines/video_parts.py).

    The conditioning is fixed once on the driver, so every segment uses the same. Faces are followed
    through the whole clip, as in-process: the workers make the clip's regular detector passes over
    their segments first, the driver follows the faces from them (faces/tracking.py; it searches
    only the frames a bisection adds, where a face comes or goes), and each segment is edited with
    its frames' crops. A segment that followed its faces from its own first frame would start from
    a fresh detection instead of the crop held so far: a jump of up to HOLD where segments meet."""
    from starbatch.engines.progress import Progress

    require(*RAY, "the Ray engine (--workers, --address)")  # before the clip is probed and sampled
    start = time.perf_counter()
    info = probe(input_path)
    driver_editor = spec.build("cpu", "fp32")  # only to fix the clip's conditioning: full precision
    settled = fix_clip(driver_editor, info, faces)
    if settled is not None:
        spec = replace(spec, request=settled)
    engine = RayEngine(spec, workers, address, worker_class)
    segments = plan_segments(info, 2 * engine.workers)
    kept = SegmentParts(output, resume, segments)
    todo = [index for index in range(len(segments)) if not kept.finished(index)]
    resumed = sum(segment.frame_count for index, segment in enumerate(segments) if index not in todo)
    if len(todo) < len(segments):
        print(f"resuming {info.path}: {len(segments) - len(todo)} of {len(segments)} segments were edited by an "
              "earlier run with these settings", file=sys.stderr)  # fmt: skip

    def bar(what: str) -> Progress:
        return Progress(total=info.frame_count, unit="frame", desc=f"{info.path.name}: {what}", dynamic_ncols=True,
                        disable=not progress)  # fmt: skip

    def search(actor, segment: Segment):
        return actor.search_segment.remote(info, segment)

    def call(actor, shard: tuple[Segment, list | None]):
        segment, plan = shard
        return actor.edit_segment.remote(info, segment, settings, batch_size, faces, plan)

    try:
        plans: list = [None] * len(segments)
        # One segment (a clip without keyframes to seek to, or with one) follows the whole clip itself.
        if faces == "detect" and driver_editor.framing != "none" and len(segments) > 1:
            searched: dict = {}
            with bar("faces") as finding:
                for found in engine.map_shards(segments, search, lambda i, _: finding.update(segments[i].frame_count),
                                               keep=True):  # the same workers edit next  # fmt: skip
                    searched.update(found)
            planned = follow_clip(info, searched, driver_editor.framing, driver_editor.image_size,
                                  driver_editor.min_face)
            plans = [planned[segment.first_frame : segment.first_frame + segment.frame_count] for segment in segments]
        def keep(i: int, part: tuple[bytes, SegmentResult]) -> None:
            kept.save(todo[i], part[0], asdict(part[1]))
            editing.update(segments[todo[i]].frame_count)

        with bar("edit") as editing:
            editing.update(resumed)
            engine.map_shards([(segments[i], plans[i]) for i in todo], call, keep)
    except BaseException:
        if not kept.any():  # nothing finished: nothing to keep for a rerun
            kept.remove()
        raise
    finally:
        engine.close()
    parts = [kept.load(index) for index in range(len(segments))]
    results = [SegmentResult(**result) for _, result in parts]
    if faces == "detect" and not sum(result.crops for result in results):
        try:
            return without_face(info, output, no_face, time.perf_counter() - start, results,
                                [video for video, _ in parts])  # fmt: skip
        finally:
            kept.remove()
    join(info, [video for video, _ in parts], output)  # a join that fails keeps the segments for the rerun
    kept.remove()
    return summarize(info, output, time.perf_counter() - start, results, resumed)
