"""A tiny generated CelebA + RaFD tree shared by the training tests (made once per session)."""

from pathlib import Path

from starbatch.train.faces import make_faces

TINY = dict(image_size=32, batch_size=4, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1,
            d_repeat_num=2)


def shared_faces(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp() / "faces-24"
    if not (root / "rafd" / "test").is_dir():
        make_faces(root, 24, seed=5, rafd_identities=3)
    return root
