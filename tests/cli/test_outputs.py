"""Careful with users' files: where `edit` and `video` write, what they refuse before any work,
how a rerun treats earlier outputs, and the exit status (README, "Exit status")."""

import json
import os
import re
import subprocess
import threading

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.synthetic.pictures import face_like

CENTRE = ("--faces", "center")  # face-free stand-ins: these tests are about files, not faces


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def run_within(seconds, *args):
    """run(*args) in a thread: a command still running after `seconds` has hung, and fails the test."""
    done = {}
    thread = threading.Thread(target=lambda: done.update(result=run(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return done["result"]


def photo(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(face_like(64, 64, seed)).save(path)
    return path


@pytest.fixture
def read_only():
    """read_only(folder): the folder made, then made so that files cannot be created in it: by its
    permission bits, or, for root (who ignores them), by the immutable attribute."""
    made = []

    def undo(folder):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        else:
            folder.chmod(0o755)

    def make(folder):
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            folder.chmod(0o555)
        elif subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("no way to make a folder read-only for root here (chattr +i refused)")
        made.append(folder)
        try:
            (folder / ".probe").touch()
        except OSError:
            return folder
        (folder / ".probe").unlink()
        pytest.skip("this file system writes into read-only folders")

    yield make
    for folder in made:
        undo(folder)


@pytest.mark.parametrize("out", ["locked", "locked/edited"])
def test_edit_into_a_read_only_place_fails_at_once_naming_it(tmp_path, model, read_only, out):
    read_only(tmp_path / "locked")
    result = run("edit", photo(tmp_path / "a.png"), "--to", "Young", "-m", model, "-o", tmp_path / out)
    assert result.exit_code == 2
    where = "there" if out == "locked" else f"in {tmp_path / 'locked'}"
    assert result.output.strip().endswith(f"-o {tmp_path / out}: cannot write {where}: "
                                          + os.strerror(13 if os.geteuid() else 1))  # EACCES; EPERM when immutable


def test_video_into_a_read_only_folder_fails_at_once_naming_it(tmp_path, model, read_only, make_clip):
    clip = make_clip(tmp_path / "talk.mp4")
    read_only(tmp_path / "locked")
    result = run("video", clip, "--expression", "happy", "-m", model, "-o", tmp_path / "locked" / "talk.mp4")
    assert result.exit_code == 2
    assert f"-o {tmp_path / 'locked' / 'talk.mp4'}: cannot write in {tmp_path / 'locked'}: " in result.output


def test_edit_names_each_output_it_cannot_write_once_the_folder_turns_read_only(tmp_path, model, read_only,
                                                                              monkeypatch):
    import starbatch.engines.run_record as run_record

    photos = [photo(tmp_path / "in" / f"{i}.png", i) for i in range(3)]
    real_write = run_record.write_record

    def write_then_lock(path, record):  # the check and the record pass; then the folder locks
        real_write(path, record)
        read_only(path.parent)

    monkeypatch.setattr(run_record, "write_record", write_then_lock)
    result = run_within(120, "edit", tmp_path / "in", "--to", "Young", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert result.exit_code == 1 and "Traceback" not in result.output
    for path in photos:
        assert f"failed  {path}: cannot write {tmp_path / 'out' / path.name}: " in result.output


def test_video_stops_at_once_with_one_line_when_a_write_fails_mid_clip(tmp_path, model, make_clip, monkeypatch):
    from starbatch.media.video import SegmentWriter

    clip = make_clip(tmp_path / "talk.mp4", frames=40)
    real_write = SegmentWriter.write

    def fill_the_disk(self, rgb, pts, duration):
        if self.frames == 5:
            raise OSError(28, "No space left on device", str(self.container.name))
        real_write(self, rgb, pts, duration)

    monkeypatch.setattr(SegmentWriter, "write", fill_the_disk)
    result = run_within(120, "video", clip, "--expression", "happy", "-m", model, "-o", tmp_path / "out.mp4",
                        "--batch-size", "2", *CENTRE)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].endswith("No space left on device")
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4"]  # no output, no temporary left


def test_video_into_a_folder_that_turns_read_only_after_the_check_is_one_line(tmp_path, model, make_clip,
                                                                            read_only, monkeypatch):
    import starbatch.files

    clip = make_clip(tmp_path / "talk.mp4")
    real_check = starbatch.files.check_writable

    def check_then_lock(folder, given=None):
        real_check(folder, given)
        read_only(folder)

    monkeypatch.setattr(starbatch.files, "check_writable", check_then_lock)
    result = run_within(120, "video", clip, "--expression", "happy", "-m", model, "-o", tmp_path / "out" / "t.mp4",
                        *CENTRE)
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = [line for line in result.output.splitlines() if line.startswith("starbatch:")]
    assert len(said) == 1 and said[0].startswith(f"starbatch: error: {tmp_path / 'out'}/")
    assert set(re.findall(r"(\d+)/20 ", result.output)) <= {"0"}  # before the first frame was edited


def test_overlapping_inputs_edit_each_photo_once_into_its_own_output(tmp_path, model):
    outer, inner = photo(tmp_path / "a" / "p.png", 1), photo(tmp_path / "a" / "x" / "p.png", 2)
    result = run("edit", tmp_path / "a" / "x", tmp_path / "a", tmp_path / "a", "--to", "Young", "-m", model,
                 "-o", tmp_path / "out", "--report", tmp_path / "report.json", *CENTRE)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "report.json").read_text())["edited"] == 2
    for source, output in [(outer, "p.png"), (inner, "x/p.png")]:
        alone = run("edit", source, "--to", "Young", "-m", model, "-o", tmp_path / "alone" / output, *CENTRE)
        assert alone.exit_code == 0, alone.output
        assert (tmp_path / "out" / output).read_bytes() == (tmp_path / "alone" / output).read_bytes()


def test_one_photo_and_a_file_name_as_out_writes_that_file_in_its_format(tmp_path, model):
    source = tmp_path / "p.jpg"
    Image.fromarray(face_like(64, 64)).save(source, quality=95)
    result = run("edit", source, "--to", "Young", "-m", model, "-o", tmp_path / "edited.png", *CENTRE)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "edited.png") as edited:
        assert (edited.format, edited.size) == ("PNG", (64, 64))
    again = run("edit", source, "--to", "Young", "-m", model, "-o", tmp_path / "edited.png", *CENTRE)
    assert again.exit_code == 0 and "skipping 1 already edited" in again.output
    other = run("edit", source, "--to", "Male", "-m", model, "-o", tmp_path / "edited.png", *CENTRE)
    assert other.exit_code == 2 and "it was made with other settings" in other.output


def test_a_rerun_with_other_settings_stops_and_says_how_the_same_settings_resume(tmp_path, model, random_model):
    photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"

    def edit(*options):
        return run("edit", tmp_path / "in", "-m", model, "-o", out, *options)

    assert edit("--to", "Black_Hair", *CENTRE).exit_code == 0
    made = (out / "a.png").read_bytes()
    other = edit("--to", "Brown_Hair", *CENTRE)
    assert other.exit_code == 2
    assert other.output.strip().splitlines()[-1] == (
        f"starbatch: error: {out}: its outputs were made with other settings (--to Black_Hair -> --to Brown_Hair): "
        "add --overwrite to redo them, or choose another -o")
    assert "faces center -> detect" in edit("--to", "Black_Hair").output
    another_model = random_model(tmp_path / "other.safetensors", seed=3)
    assert "model joint.safetensors -> other.safetensors" in run(
        "edit", tmp_path / "in", "-m", another_model, "-o", out, "--to", "Black_Hair", *CENTRE).output
    same = edit("--to", "black_hair", *CENTRE)  # the same request, spelled otherwise
    assert same.exit_code == 0 and "skipping 1 already edited" in same.output
    redo = edit("--to", "Brown_Hair", "--overwrite", *CENTRE)
    assert redo.exit_code == 0 and (out / "a.png").read_bytes() != made
    assert edit("--to", "Brown_Hair", *CENTRE).exit_code == 0  # the record now holds the new settings


def test_a_record_from_before_an_option_existed_reads_as_its_default(tmp_path, model):
    """Records made before --min-face was recorded hold no min_face: they were made at 40."""
    photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    assert run("edit", tmp_path / "in", "--to", "Young", "-m", model, "-o", out).exit_code == 0
    record = json.loads((out / ".starbatch-run.json").read_text())
    del record["settings"]["min_face"]
    (out / ".starbatch-run.json").write_text(json.dumps(record))
    same = run("edit", tmp_path / "in", "--to", "Young", "-m", model, "-o", out)
    assert same.exit_code == 0 and "skipping 1 already edited" in same.output
    other = run("edit", tmp_path / "in", "--to", "Young", "-m", model, "-o", out, "--min-face", 80)
    assert other.exit_code == 2 and "(min_face 40 -> 80)" in other.output


def test_a_video_rerun_with_the_same_settings_has_nothing_to_do(tmp_path, model, make_clip):
    clip = make_clip(tmp_path / "talk.mp4")
    args = ("video", clip, "--expression", "happy", "-m", model, "-o", tmp_path / "out.mp4", *CENTRE)
    assert run(*args).exit_code == 0
    made = (tmp_path / "out.mp4").stat().st_mtime_ns
    again = run(*args)
    assert again.exit_code == 0 and "already edited from this clip with these settings" in again.output
    assert (tmp_path / "out.mp4").stat().st_mtime_ns == made
    other = run("video", clip, "--expression", "sad", "-m", model, "-o", tmp_path / "out.mp4", *CENTRE)
    assert other.exit_code == 2 and "--expression happy -> --expression sad" in other.output


@pytest.mark.parametrize("command", ["edit", "video"])
def test_exit_status_2_for_what_stops_a_command_before_any_work(tmp_path, model, command):
    (tmp_path / "empty").mkdir()
    cases = [tmp_path / "missing", tmp_path / "empty"] if command == "edit" else [tmp_path / "missing.mp4"]
    for given in cases:
        result = run(command, given, "--expression", "happy", "-m", model, "-o", tmp_path / "out.mp4")
        assert result.exit_code == 2 and str(given) in result.output, result.output
    assert run(command, tmp_path / "empty", "--to", "Blak_Hair", "-m", model).exit_code == 2


def test_video_into_webm_picks_vp9_and_refuses_what_webm_cannot_hold_before_any_frame(tmp_path, model, make_clip,
                                                                                      monkeypatch):
    import av

    from starbatch.engines import video as engine

    silent, talking = make_clip(tmp_path / "silent.mp4"), make_clip(tmp_path / "talk.mp4", audio_seconds=1.0)
    result = run("video", silent, "--expression", "happy", "-m", model, "-o", tmp_path / "out.webm", *CENTRE)
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "out.webm")) as written:
        assert written.format.name.startswith("matroska,webm") and written.streams.video[0].codec_context.name == "vp9"
        assert sum(1 for _ in written.decode(video=0)) == 20
    monkeypatch.setattr(engine, "probe", lambda *a: pytest.fail("a frame was read"))
    for clip, extra, said in ((silent, ("--codec", "h264"), "a .webm file cannot hold libx264 video"),
                              (talking, (), "its audio (aac) cannot go into a .webm file")):
        result = run("video", clip, "--expression", "happy", "-m", model, "-o", tmp_path / "no.webm", *extra, *CENTRE)
        assert result.exit_code == 2 and said in result.output and "Traceback" not in result.output, result.output
        assert not list(tmp_path.glob("*no*"))


def test_edit_says_which_files_in_the_folder_it_leaves_because_they_are_not_photos(tmp_path, model):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(face_like(64, 64, 1)).save(photos / "a.jpg")
    (photos / "party.gif").write_bytes(b"GIF89a")
    result = run("edit", photos, "--to", "Young", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert result.exit_code == 0, result.output
    assert (f"ignoring 1 file that is not jpg, png, webp, bmp, tiff and heic photos (.gif), e.g. "
            f"{photos / 'party.gif'}") in result.output
    assert [p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")] == ["a.jpg"]


def test_a_heic_photo_is_edited_into_a_heic_of_its_size_keeping_its_exif(tmp_path, model):
    import pillow_heif

    pillow_heif.register_heif_opener()
    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "a phone"  # Make
    Image.fromarray(face_like(90, 70, 1)).save(photos / "IMG_0001.HEIC", quality=90, exif=exif.tobytes())
    result = run("edit", photos, "--to", "Young", "-m", model, "-o", tmp_path / "out", *CENTRE)
    assert result.exit_code == 0, result.output
    source, edited = Image.open(photos / "IMG_0001.HEIC"), Image.open(tmp_path / "out" / "IMG_0001.HEIC")
    assert (edited.format, edited.size) == ("HEIF", (90, 70)) and edited.getexif().get(0x010F) == "a phone"
    difference = np.abs(np.asarray(edited, dtype=int) - np.asarray(source, dtype=int))
    assert difference.mean() > 2  # edited, not copied


@pytest.mark.parametrize("faces", ["center", "detect"])
def test_a_video_interrupted_mid_clip_resumes_from_its_finished_parts_to_the_same_frames(tmp_path, model, make_clip,
                                                                                         monkeypatch, faces):
    """With faces followed too: the rerun follows them through the finished parts' frames again,
    so the frames it edits are the uninterrupted run's."""
    import av

    from starbatch.engines import video_parts
    from starbatch.media.video import SegmentWriter

    monkeypatch.setattr(video_parts, "part_frames", lambda info: 8)  # the 40-frame clip in 5 parts
    clip = make_clip(tmp_path / "talk.mp4", frames=40, width=160, height=128, face=faces == "detect")
    how = CENTRE if faces == "center" else ("--framing", "synthetic")
    args = ("video", clip, "--expression", "happy", "-m", model, "--batch-size", "2", *how)
    assert run(*args, "-o", tmp_path / "whole.mp4").exit_code == 0
    real_write, written = SegmentWriter.write, []

    def interrupted(self, rgb, pts, duration):
        if self.first_frame == 16 and self.frames == 3:  # Ctrl-C in the third part
            raise KeyboardInterrupt
        written.append(pts)
        real_write(self, rgb, pts, duration)

    monkeypatch.setattr(SegmentWriter, "write", interrupted)
    out = tmp_path / "out.mp4"
    assert run(*args, "-o", out).exit_code != 0 and not out.exists()
    parts = tmp_path / ".out.mp4.parts"
    assert sorted(p.name for p in parts.iterdir()) == ["part_00000.mp4", "part_00001.mp4", "settings.json"]
    monkeypatch.setattr(SegmentWriter, "write", lambda self, *a: written.append(a[1]) or real_write(self, *a))
    written.clear()
    result = run(*args, "-o", out)
    assert result.exit_code == 0, result.output
    assert "2 of 5 parts (16 of 40 frames) were edited by an earlier run with these settings" in result.output
    assert re.search(r"edited 40 frames \(40 face crops\) in [\d.]+ s \([\d.]+ frames/s; 16 of them by the earlier "
                     r"run\)", result.output), result.output
    assert len(written) == 24 and not parts.exists()  # only the unfinished frames edited; the parts gone

    def frames(path):
        with av.open(str(path)) as container:
            return [(frame.pts, frame.to_ndarray()) for frame in container.decode(video=0)]

    whole, resumed = frames(tmp_path / "whole.mp4"), frames(out)
    assert len(whole) == len(resumed) == 40
    assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(whole, resumed, strict=True))
    monkeypatch.setattr(SegmentWriter, "write", interrupted)  # again; then a rerun with other settings
    assert run(*args, "-o", tmp_path / "again.mp4").exit_code != 0 and (tmp_path / ".again.mp4.parts").is_dir()
    monkeypatch.setattr(SegmentWriter, "write", lambda self, *a: written.append(a[1]) or real_write(self, *a))
    written.clear()
    other = run("video", clip, "--expression", "sad", "-m", model, *how, "-o", tmp_path / "again.mp4")
    assert other.exit_code == 0 and "resuming" not in other.output and len(written) == 40
