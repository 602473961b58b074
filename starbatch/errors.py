"""The one error type users see: a one-line message in their words, no traceback."""


class StarbatchError(Exception):
    """A problem the user can fix (bad input, wrong model, unknown label); printed as one line."""


class NoFaceFound(StarbatchError):
    """A video in which face detection found no face: bad input, so `video` exits 1, not 2."""
