import pytest
import torch

from starbatch.errors import StarbatchError
from starbatch.models.stargan_v1.labels import CELEBA_DEFAULT, RAFD_EXPRESSIONS
from starbatch.train.data import BatchStream, celeba_splits, rafd_split, read_attribute_file


def test_celeba_tree_parses_into_train_and_test(faces_tree):
    root = faces_tree / "celeba"
    train, test = celeba_splits(root, CELEBA_DEFAULT)
    assert len(train) + len(test) == 24 and len(test) == 2
    assert train.labels.shape == (22, 5) and set(train.labels.flatten()) <= {0.0, 1.0}
    image = train.load(0, 32, flip=True)
    assert image.shape == (3, 32, 32) and -1 <= image.min() and image.max() <= 1


def test_rafd_classes_in_sorted_folder_order(faces_tree):
    train = rafd_split(faces_tree / "rafd", "train")
    assert len(train) == 16
    for path, label in zip(train.paths, train.labels, strict=True):
        assert path.parent.name == RAFD_EXPRESSIONS[label]


def test_malformed_attribute_file_names_file_and_line(tmp_path):
    attrs = tmp_path / "list_attr_celeba.txt"
    attrs.write_text("2\nBlack_Hair Blond_Hair Brown_Hair Male Young\n"
                     "000001.jpg 1 -1 -1 1 1\n000002.jpg 1 -1 yes 1\n")
    with pytest.raises(StarbatchError, match=r"list_attr_celeba.txt:4: expected a file name and 5"):
        read_attribute_file(attrs, CELEBA_DEFAULT)
    attrs.write_text("1\nBlack_Hair Male\n000001.jpg 1 -1\n")
    with pytest.raises(StarbatchError, match="no column 'Blond_Hair'"):
        read_attribute_file(attrs, CELEBA_DEFAULT)


def test_missing_expression_folder_is_a_clear_error(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    with pytest.raises(StarbatchError, match="not the RaFD set"):
        rafd_split(tmp_path, "train")


def test_batches_are_reproducible_and_sharded(faces_tree):
    train, _ = celeba_splits(faces_tree / "celeba", CELEBA_DEFAULT)
    stream = BatchStream(train, 4, 32, seed=3)
    assert torch.equal(stream[7].images, BatchStream(train, 4, 32, seed=3).make(7).images)
    rank0 = BatchStream(train, 4, 32, seed=3, rank=0, world_size=2).indices(1)[0]
    rank1 = BatchStream(train, 4, 32, seed=3, rank=1, world_size=2).indices(1)[0]
    assert not set(rank0) & set(rank1)


def test_a_model_trained_on_rendered_faces_is_framed_synthetic_and_on_real_ones_celeba(tmp_path, faces_tree):
    from PIL import Image

    from starbatch.train.data import RENDERED_MARK, data_framing

    celeba, rafd = faces_tree / "celeba", faces_tree / "rafd"
    assert data_framing("both", celeba, rafd) == "synthetic"  # make-faces marks what it renders
    older = tmp_path / "older"  # rendered before the mark existed: 128 px squares
    (older / "images").mkdir(parents=True)
    Image.new("RGB", (128, 128)).save(older / "images" / "000001.jpg")
    assert not (older / RENDERED_MARK).exists() and data_framing("celeba", older, None) == "synthetic"
    real = tmp_path / "real"  # CelebA's aligned images are 178x218
    (real / "images").mkdir(parents=True)
    Image.new("RGB", (178, 218)).save(real / "images" / "000001.jpg")
    assert data_framing("celeba", real, None) == "celeba"
    assert data_framing("both", real, rafd) == "celeba"  # every folder trained on must be rendered
