import numpy as np
from PIL import Image

from starbatch.models.stargan_v1.labels import CELEBA_ATTRIBUTES, CELEBA_DEFAULT, RAFD_EXPRESSIONS
from starbatch.synthetic.faces import celeba_face, make_faces, rafd_face


def test_make_faces_writes_celeba_and_rafd_layouts(faces_tree):
    root = faces_tree
    lines = (root / "celeba" / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "24" and lines[1].split() == list(CELEBA_ATTRIBUTES)
    assert all(a in lines[1].split() for a in CELEBA_DEFAULT)
    assert len(lines) == 26 and all(len(line.split()) == 41 for line in lines[2:])
    image = Image.open(root / "celeba" / "images" / "000001.jpg")
    assert image.size == (128, 128) and image.mode == "RGB"
    for split in ("train", "test"):
        assert sorted(p.name for p in (root / "rafd" / split).iterdir()) == list(RAFD_EXPRESSIONS)
    assert len(list((root / "rafd" / "test" / "happy").iterdir())) == 1


def test_same_seed_same_faces_other_seed_other_faces(tmp_path):
    make_faces(tmp_path / "a", 3, seed=1, rafd_identities=1)
    make_faces(tmp_path / "b", 3, seed=1, rafd_identities=1)
    for path in ("celeba/images/000002.jpg", "rafd/test/sad/0000_sad.jpg",
                 "celeba/list_attr_celeba.txt"):
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    assert not np.array_equal(celeba_face(1, 0)[0], celeba_face(2, 0)[0])


def test_labels_vary_and_hair_colours_exclusive():
    rows = [celeba_face(0, i)[1] for i in range(60)]
    for name in CELEBA_DEFAULT:
        share = np.mean([r[name] for r in rows])
        assert 0.1 < share < 0.9, name
    assert all(r["Black_Hair"] + r["Blond_Hair"] + r["Brown_Hair"] <= 1 for r in rows)


def test_each_expression_draws_a_different_face():
    faces = {e: rafd_face(0, 0, e).astype(np.float32) for e in RAFD_EXPRESSIONS}
    neutral = faces["neutral"]
    for expression, face in faces.items():
        if expression != "neutral":
            assert np.abs(face - neutral).mean() > 1.0, expression
