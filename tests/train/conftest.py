"""Training fixtures: the smallest settings that still exercise every part of the loop."""

import pytest


@pytest.fixture(scope="session")
def tiny() -> dict:
    """Settings fields for a tiny run on the 32 px rendered faces."""
    return dict(image_size=32, batch_size=4, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, d_repeat_num=2)
