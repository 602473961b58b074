"""The Ray engine: 2 workers give what in-process gives, and a worker that dies loses nothing."""

import os

import numpy as np
import pytest
from PIL import Image

from starbatch.engines.photos import InProcess, edit_photos, run_edit
from starbatch.engines.ray_pool import EditWorker
from starbatch.engines.video import edit_video
from starbatch.inference.editor import EditorSpec
from starbatch.media.video import EncodeSettings, probe
from starbatch.models.family import EditOptions
from starbatch.synthetic.pictures import face_like, face_photo

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # run first (tests/conftest.py)


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    return tmp_path_factory.mktemp("fault") / "die-once"


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray session for the module (start-up costs seconds)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def spec(tmp_path_factory, random_model):
    model = random_model(tmp_path_factory.mktemp("model") / "both.safetensors")
    return EditorSpec.from_options(model, EditOptions("Black_Hair", "happy"), "cpu", "fp32")


def dies_once(marker):
    """An EditWorker that exits as a crashed worker would, once: the first to take the marker file,
    after its first finished photo (leaving a note of it and its inode, to prove it is not
    rewritten) or segment. Defined here, so Ray sends the class by value to its workers."""

    def die(outcome):
        try:
            os.remove(marker)
        except FileNotFoundError:
            return
        if outcome is not None and outcome.status == "edited":
            note = marker.parent / (marker.name + ".died")
            note.write_text(f"{outcome.job.output}\n{outcome.job.output.stat().st_ino}\n")
        os._exit(1)

    class DiesOnce(EditWorker):
        def edit_jobs(self, jobs, batch_size, crop_only, max_pixels, faces="detect", no_face="copy"):
            return run_edit(jobs, self.editor, batch_size, crop_only, max_pixels, on_outcome=die, faces=faces,
                            no_face=no_face)

        def edit_segment(self, *args, **kwargs):
            data = super().edit_segment(*args, **kwargs)
            die(None)
            return data

    return DiesOnce


def photos(folder, count):
    folder.mkdir()
    for i in range(count):
        Image.fromarray(face_like(60 + i, 70, seed=i)).save(folder / f"face_{i:02d}.png")
    return folder


def engine(spec, workers=2, worker_class=EditWorker):
    from starbatch.engines.ray_pool import RayEngine

    return RayEngine(spec, workers, worker_class=worker_class)


def pixels(path):
    return np.asarray(Image.open(path), dtype=int)


def test_two_ray_workers_edit_photos_as_in_process(tmp_path, ray_session, spec):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(5):
        Image.fromarray(face_photo(200 + 20 * i, 160, [(10 + 15 * i, 10, 128)], seed=1)).save(inputs / f"face_{i}.png")
    Image.fromarray(face_like(90, 70)).save(inputs / "no_face.png")
    local = edit_photos([inputs], tmp_path / "local", InProcess(spec.build()), batch_size=2)
    remote = edit_photos([inputs], tmp_path / "ray", engine(spec), batch_size=2)
    for summary in (local, remote):  # faces found where the photos are prepared: the same in both engines
        assert (summary["edited"], summary["without_face"], summary["failed"]) == (5, 1, 0)
        assert [f["status"] for f in summary["files"] if f["input"].endswith("no_face.png")] == ["no face"]
    assert sorted(os.listdir(tmp_path / "ray")) == sorted(os.listdir(tmp_path / "local"))
    for name in sorted(os.listdir(tmp_path / "local")):
        assert np.abs(pixels(tmp_path / "local" / name) - pixels(tmp_path / "ray" / name)).max() <= 1


def test_two_ray_workers_edit_video_with_audio_and_track_the_face_as_one_process(tmp_path, ray_session, spec,
                                                                                make_clip, frame_times, audio_packets,
                                                                                stream_facts):
    """Segments keep the clip's timing, audio and rotation exactly, and the face is followed through
    the whole clip as in one process: the same crops at every frame searched, the same frames."""
    from starbatch.engines.ray_pool import edit_video_ray

    clip = make_clip(tmp_path / "in.mp4", frames=30, gop=6, variable=True, audio_seconds=0.8, width=128, height=112,
                     rotation=90, face=True)  # fmt: skip  (a face of ~40 px, found in every frame)
    assert len(probe(clip).keyframes) >= 4  # so the clip really splits into segments
    lossless = EncodeSettings(crf=0)
    local = edit_video(clip, tmp_path / "local.mp4", spec.build(), lossless, progress=False)
    remote = edit_video_ray(clip, tmp_path / "ray.mp4", spec, lossless, workers=2, progress=False)
    for output in (tmp_path / "local.mp4", tmp_path / "ray.mp4"):
        assert frame_times(output) == frame_times(clip)
        assert audio_packets(output) == audio_packets(clip)
        assert stream_facts(output)["rotation"] == stream_facts(clip)["rotation"]
        assert stream_facts(output)["duration"] == stream_facts(clip)["duration"]
    assert local["faces_edited"] == remote["faces_edited"] == 30  # the face edited in every frame by both
    assert remote["sampled_frames"] == local["sampled_frames"]  # frames searched, faces, crops: all alike
    assert len(local["sampled_frames"]) >= 3
    frames = [decoded_frames(path) for path in (tmp_path / "local.mp4", tmp_path / "ray.mp4")]
    assert len(frames[0]) == len(frames[1]) == 30
    for index, (a, b) in enumerate(zip(*frames, strict=True)):  # G's float sums may differ in the last bit
        assert np.abs(a - b).max() <= 1, index


def decoded_frames(path):
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]


def test_a_killed_worker_is_replaced_and_nothing_is_lost_or_written_twice(tmp_path, ray_session, spec, marker):
    inputs = photos(tmp_path / "in", 10)
    marker.write_text("die after the first photo")
    pool = engine(spec, worker_class=dies_once(marker))
    summary = edit_photos([inputs], tmp_path / "out", pool, batch_size=2, faces="center")
    assert not marker.exists() and pool.actors_started == 3  # two workers and one replacement
    assert (summary["edited"], summary["failed"]) == (10, 0)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(inputs))  # no partial files left
    finished, inode = (marker.parent / (marker.name + ".died")).read_text().split()
    assert os.stat(finished).st_ino == int(inode)  # the dead worker's finished photo was not redone
    assert sorted(f["output"] for f in summary["files"]) == sorted(str(tmp_path / "out" / n)
                                                                  for n in os.listdir(inputs))


def test_a_killed_worker_loses_no_video_frame(tmp_path, ray_session, spec, marker, make_clip, frame_times,
                                              audio_packets):
    from starbatch.engines.ray_pool import edit_video_ray

    clip = make_clip(tmp_path / "in.mp4", frames=24, gop=6, audio_seconds=0.5)
    marker.write_text("die after the first segment")
    edit_video_ray(clip, tmp_path / "ray.mp4", spec, EncodeSettings(), workers=2, progress=False, faces="center",
                   worker_class=dies_once(marker))
    assert not marker.exists()
    assert frame_times(tmp_path / "ray.mp4") == frame_times(clip)
    assert audio_packets(tmp_path / "ray.mp4") == audio_packets(clip)


def counting(folder):
    """An EditWorker that leaves a file in `folder` for each segment it edits (workers are processes)."""

    class Counts(EditWorker):
        def edit_segment(self, info, segment, *args, **kwargs):
            (folder / f"edited_{segment.first_frame}").touch()
            return super().edit_segment(info, segment, *args, **kwargs)

    return Counts


def test_a_rerun_of_an_interrupted_ray_video_edits_only_the_segments_it_did_not_keep(tmp_path, ray_session, spec,
                                                                                     make_clip, monkeypatch, capsys):
    from starbatch.engines import video_parts
    from starbatch.engines.ray_pool import edit_video_ray

    clip = make_clip(tmp_path / "in.mp4", frames=24, gop=6, audio_seconds=0.5)
    out, kept, settings = tmp_path / "out.mp4", tmp_path / ".out.mp4.parts", {"the run's settings": 1}
    monkeypatch.setattr(video_parts.SegmentParts, "remove", lambda self: None)  # all kept, as if cut off at the end
    edit_video_ray(clip, out, spec, EncodeSettings(), workers=2, progress=False, faces="center", resume=settings)
    whole = decoded_frames(out)
    out.unlink()
    segments = sorted(kept.glob("segment_*.json"))
    assert len(segments) >= 3
    lost = segments[len(segments) // 2:]  # the run stopped before these were kept
    for result in lost:
        result.unlink()
    monkeypatch.undo()
    marks = tmp_path / "marks"
    marks.mkdir()
    again = edit_video_ray(clip, out, spec, EncodeSettings(), workers=2, progress=False, faces="center",
                           resume=settings, worker_class=counting(marks))
    kept_count = len(segments) - len(lost)
    assert f"{kept_count} of {len(segments)} segments were edited by an earlier run" in capsys.readouterr().err
    assert len(list(marks.iterdir())) == len(lost) and not kept.exists()
    assert 0 < again["resumed_frames"] < 24
    resumed = decoded_frames(out)
    assert len(resumed) == len(whole) == 24 and all(np.array_equal(a, b) for a, b in zip(whole, resumed, strict=True))


def test_two_ray_workers_edit_with_v2_styles_as_in_process(tmp_path, ray_session, v2_model):
    # The request travels as seeds and a domain; each worker makes the styles from its own copy of the model.
    spec = EditorSpec.from_options(v2_model, EditOptions(domain="male", seed="4,9"), "cpu", "fp32")
    inputs = photos(tmp_path / "in", 3)
    local = edit_photos([inputs], tmp_path / "local", InProcess(spec.build()), batch_size=2, faces="center",
                        variants=spec.variants)
    remote = edit_photos([inputs], tmp_path / "ray", engine(spec), batch_size=2, faces="center",
                         variants=spec.variants)
    assert local["edited"] == remote["edited"] == 6
    names = sorted(os.listdir(tmp_path / "local"))
    assert names == sorted(os.listdir(tmp_path / "ray")) and "face_02_male_s9.png" in names
    for name in names:
        assert np.abs(pixels(tmp_path / "local" / name) - pixels(tmp_path / "ray" / name)).max() <= 1
