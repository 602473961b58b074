"""Label vocabularies and the label vectors G is conditioned on.

Layout (DESIGN.md, "Labels"): datasets' labels side by side, then, for a model trained on several
datasets, a mask vector saying which dataset's part is known (StarGAN section 3.2).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError

if TYPE_CHECKING:  # numpy is imported where vectors are made: `starbatch --help` reads the names only
    import numpy as np

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)  # fmt: skip
CELEBA_DEFAULT = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
HAIR_COLOUR_LABELS = frozenset({"Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"})  # exclusive
# RaFD classes in sorted folder order, as the official ImageFolder loader numbers them.
RAFD_EXPRESSIONS = (
    "angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised",
)  # fmt: skip

BINARY = "binary"  # independent yes/no attributes (CelebA)
ONEHOT = "onehot"  # exactly one class (RaFD expressions)


@dataclass(frozen=True)
class LabelSet:
    """One dataset's part of the label vector."""

    name: str
    kind: str
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in (BINARY, ONEHOT):
            raise StarbatchError(f"label set {self.name!r}: unknown kind {self.kind!r}")
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise StarbatchError(f"label set {self.name!r}: labels must be unique and non-empty")


def check_celeba_attributes(attributes: tuple[str, ...] | list[str]) -> None:
    """Refuse a name that is not one of CelebA's 40 attributes, suggesting the nearest."""
    unknown = [a for a in attributes if a not in CELEBA_ATTRIBUTES]
    if unknown:
        raise StarbatchError(_unknown_message(unknown[0], CELEBA_ATTRIBUTES, "CelebA attribute"))


def celeba(attributes: tuple[str, ...] | list[str] = CELEBA_DEFAULT) -> LabelSet:
    check_celeba_attributes(attributes)
    return LabelSet("celeba", BINARY, tuple(attributes))


def rafd() -> LabelSet:
    return LabelSet("rafd", ONEHOT, RAFD_EXPRESSIONS)


@dataclass(frozen=True)
class LabelSpace:
    """All label sets of a model, in order, and whether a mask vector follows them."""

    sets: tuple[LabelSet, ...]
    mask: bool

    @property
    def class_dim(self) -> int:
        """Labels without the mask: the size of D's classifier output."""
        return sum(len(s.labels) for s in self.sets)

    @property
    def dim(self) -> int:
        """The full label vector G takes."""
        return self.class_dim + (len(self.sets) if self.mask else 0)

    def offset(self, label_set: LabelSet) -> int:
        start = 0
        for s in self.sets:
            if s == label_set:
                return start
            start += len(s.labels)
        raise KeyError(label_set.name)

    def by_name(self, name: str) -> LabelSet:
        for s in self.sets:
            if s.name == name:
                return s
        raise KeyError(name)

    def names(self) -> list[str]:
        return [label for s in self.sets for label in s.labels]

    def resolve(self, name: str) -> tuple[LabelSet, str]:
        """The label set holding `name` (case-insensitive) and its canonical spelling."""
        for s in self.sets:
            for label in s.labels:
                if label.lower() == name.strip().lower():
                    return s, label
        raise StarbatchError(_unknown_message(name, self.names(), "label"))

    def full_vector(self, label_set: LabelSet, part: np.ndarray) -> np.ndarray:
        """(N, len(set)) -> (N, dim): the other sets' parts zero, the mask naming `label_set`."""
        import numpy as np

        vector = np.zeros((part.shape[0], self.dim), dtype=np.float32)
        start = self.offset(label_set)
        vector[:, start : start + len(label_set.labels)] = part
        if self.mask:
            vector[:, self.class_dim + self.sets.index(label_set)] = 1.0
        return vector

    def to_metadata(self) -> dict:
        sets = [{"name": s.name, "kind": s.kind, "labels": list(s.labels)} for s in self.sets]
        return {"sets": sets, "mask": self.mask}

    @classmethod
    def from_metadata(cls, data: dict) -> LabelSpace:
        sets = tuple(LabelSet(s["name"], s["kind"], tuple(s["labels"])) for s in data["sets"])
        return cls(sets, bool(data["mask"]))


def label_space_for(dataset: str, attributes: list[str] | None = None) -> LabelSpace:
    """The label space of an official model trained on `dataset` (celeba, rafd or both)."""
    attrs = tuple(attributes) if attributes else CELEBA_DEFAULT
    if dataset == "celeba":
        return LabelSpace((celeba(attrs),), mask=False)
    if dataset == "rafd":
        return LabelSpace((rafd(),), mask=False)
    if dataset == "both":
        return LabelSpace((celeba(attrs), rafd()), mask=True)
    raise StarbatchError(f"unknown dataset {dataset!r}: choose celeba, rafd or both")


def parse_assignments(text: str | None) -> list[tuple[str, float]]:
    """'Black_Hair,Young,Male=0' -> [('Black_Hair', 1), ('Young', 1), ('Male', 0)]."""
    if not text:
        return []
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        value = value.strip() or "1"
        if value not in ("0", "1"):
            raise StarbatchError(f"{item!r}: a label is set with NAME or NAME=1, cleared with NAME=0")
        pairs.append((name.strip(), float(value)))
    return pairs


@dataclass(frozen=True)
class EditPass:
    """One generator pass: the label set it edits and the values the user asked for in it."""

    label_set: LabelSet
    changes: tuple[tuple[str, float], ...]


OPTION_KINDS = {"--to": BINARY, "--expression": ONEHOT}  # which labels each option sets


def resolve_option(space: LabelSpace, option: str, name: str) -> tuple[LabelSet, str]:
    """A name given to --to (yes/no labels) or --expression (one-hot labels), matched
    case-insensitively; a name that belongs to the other option, or to labels the model does not
    have, is one line saying what to give instead."""
    kind = OPTION_KINDS[option]
    other = next(o for o, k in OPTION_KINDS.items() if k != kind)
    try:
        label_set, label = space.resolve(name)
    except StarbatchError:
        label_set, label = None, name.strip()
    if label_set is not None and label_set.kind == kind:
        return label_set, label
    if label_set is not None:
        what = "an expression" if kind == BINARY else "not an expression"
        raise StarbatchError(f"{option} {name}: {label} is {what}: use {other} {label}")
    valid = [label for s in space.sets if s.kind == kind for label in s.labels]
    theirs = [label for s in space.sets if s.kind != kind for label in s.labels]
    if not valid:
        what = "no expressions" if kind == ONEHOT else "only expressions"
        raise StarbatchError(f"{option} {name}: this model has {what}; it edits "
                             f"{', '.join(theirs)} with {other}")  # fmt: skip
    if kind == BINARY and label.lower() in RAFD_EXPRESSIONS:
        raise StarbatchError(f"{option} {name}: {label.lower()} is an expression, and this model has none; "
                             f"it edits {', '.join(valid)} with --to")  # fmt: skip
    noun = "label" if kind == BINARY else "expression"
    raise StarbatchError(f"{option} {name}: {_unknown_message(label, valid, noun)}")


def respelled(space: LabelSpace, to: str | None, expression: str | None, source: str | None = None,
              ) -> list[tuple[str, str]]:  # fmt: skip
    """(given, canonical) for each label name matched in another spelling, to tell the user."""
    names = [name for text in (to, source) for name, _ in parse_assignments(text)] + [expression or ""]
    found = []
    for name in filter(None, names):
        try:
            label = space.resolve(name)[1]
        except StarbatchError:
            continue
        if label != name.strip() and (name.strip(), label) not in found:
            found.append((name.strip(), label))
    return found


def plan_passes(space: LabelSpace, to: str | None, expression: str | None) -> list[EditPass]:
    """Group the requested changes by label set: one pass each, in the model's set order."""
    requested = [("--to", name, value) for name, value in parse_assignments(to)]
    names = ", ".join(label for s in space.sets if s.kind == ONEHOT for label in s.labels)
    if expression and "," in expression and names:
        raise StarbatchError(f"--expression {expression}: expressions are exclusive: name exactly one of {names}")
    if expression:
        requested += [("--expression", expression, 1.0)]
    if not requested:
        raise StarbatchError("nothing to edit: give --to NAME[,NAME=0...] or --expression NAME")
    grouped: dict[str, list[tuple[str, float]]] = {}
    for option, name, value in requested:
        label_set, label = resolve_option(space, option, name)
        grouped.setdefault(label_set.name, []).append((label, value))
    passes = []
    for s in space.sets:
        if s.name not in grouped:
            continue
        changes = tuple(grouped[s.name])
        if s.kind == ONEHOT:
            chosen = [label for label, value in changes if value == 1.0]
            if len(chosen) != 1:
                raise StarbatchError(
                    f"{s.name} labels are exclusive: name exactly one of {', '.join(s.labels)}"
                )
        passes.append(EditPass(s, changes))
    return passes


def source_labels_from_text(space: LabelSpace, text: str) -> dict[str, np.ndarray]:
    """--from 'Blond_Hair,Young': per label set, the source image's labels (names not given are 0)."""
    import numpy as np

    parts = {s.name: np.zeros(len(s.labels), dtype=np.float32) for s in space.sets}
    for name, value in parse_assignments(text):
        label_set, label = space.resolve(name)
        parts[label_set.name][label_set.labels.index(label)] = value
    return parts


def set_label(part: np.ndarray, labels: tuple[str, ...], label: str, value: float) -> None:
    """part[:, label] = value in place; setting a hair colour clears the others (exclusive in CelebA)."""
    if value == 1.0 and label in HAIR_COLOUR_LABELS:
        for other in HAIR_COLOUR_LABELS & set(labels):
            part[:, labels.index(other)] = 0.0
    part[:, labels.index(label)] = value


def target_part(edit: EditPass, source_labels: np.ndarray | None, count: int) -> np.ndarray:
    """The edited set's part of the target label for `count` images.

    Binary sets start from the source labels and change only what the user named; setting a
    hair colour clears the others (they are exclusive in CelebA). One-hot sets need no source.
    """
    import numpy as np

    labels = edit.label_set.labels
    if edit.label_set.kind == ONEHOT:
        part = np.zeros((count, len(labels)), dtype=np.float32)
        for label, value in edit.changes:
            if value == 1.0:
                part[:, labels.index(label)] = 1.0
        return part
    if source_labels is None:
        raise ValueError("binary label sets need source labels")
    part = np.broadcast_to(source_labels, (count, len(labels))).astype(np.float32, copy=True)
    for label, value in edit.changes:
        set_label(part, labels, label, value)
    return part


def _unknown_message(name: str, valid: list[str] | tuple[str, ...], what: str) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    if not close:
        lowered = {v.lower(): v for v in valid}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=1)]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {name!r}.{hint} Valid: {', '.join(valid)}"
