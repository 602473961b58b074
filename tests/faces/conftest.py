"""Shared pictures for the face tests: real photos from tests/data, rendered faces with the
landmarks they were drawn with, and face-free pictures."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from starbatch.faces.retinaface import FaceDetector
from starbatch.synthetic.faces import celeba_face_with_landmarks, face_free_picture

DATA = Path(__file__).resolve().parent.parent / "data"


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real, frontal portrait (256 px, the face about 105 px across)."""
    return _rgb(DATA / "astronaut.jpg")


@pytest.fixture(scope="session")
def cameraman() -> np.ndarray:
    """A real face in a three-quarter view, half hidden by a camera (grey, 256 px)."""
    return _rgb(DATA / "cameraman.jpg")


@pytest.fixture(scope="session")
def obama() -> np.ndarray:
    """A real, frontal official portrait (256 px, the face about 105 px across)."""
    return _rgb(DATA / "obama.jpg")


@pytest.fixture(scope="session")
def face_free_photos() -> dict[str, np.ndarray]:
    return {path.stem: _rgb(path) for path in sorted((DATA / "face_free").glob("*.jpg"))}


@pytest.fixture(scope="session")
def rendered_faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """20 of the renderer's CelebA-style faces (128 px) and their drawn landmarks."""
    return [celeba_face_with_landmarks(0, index)[::2] for index in range(20)]


@pytest.fixture(scope="session")
def backdrop():
    """backdrop(width, height, index): a face-free picture stretched to that size."""

    def make(width: int, height: int, index: int = 0) -> np.ndarray:
        return np.asarray(Image.fromarray(face_free_picture(index, seed=7)).resize((width, height), Image.BICUBIC))

    return make
