"""The four AG News classes, defined once.

Dataset label ids are 1-4 (as in the Kaggle CSV); model output indices are 0-3. Everything else in agnews
derives names and ids from here, and trained models carry id2label/label2id in their config.
"""

from __future__ import annotations

LABEL_NAMES: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")
NUM_LABELS = len(LABEL_NAMES)
FIRST_LABEL_ID = 1


def label_name(label_id: int) -> str:
    """Name of a dataset label id (1-4)."""
    if not FIRST_LABEL_ID <= label_id < FIRST_LABEL_ID + NUM_LABELS:
        raise ValueError(f"label id must be in 1-{NUM_LABELS}, got {label_id}")
    return LABEL_NAMES[label_id - FIRST_LABEL_ID]


def label_id(name: str) -> int:
    """Dataset label id (1-4) of a class name."""
    try:
        return LABEL_NAMES.index(name) + FIRST_LABEL_ID
    except ValueError:
        raise ValueError(f"unknown label {name!r}; expected one of {', '.join(LABEL_NAMES)}") from None


def index_to_label_id(index: int) -> int:
    """Model output index (0-3) to dataset label id (1-4)."""
    return index + FIRST_LABEL_ID


def label_id_to_index(label_id_: int) -> int:
    """Dataset label id (1-4) to model output index (0-3)."""
    label_name(label_id_)
    return label_id_ - FIRST_LABEL_ID


def id2label() -> dict[int, str]:
    """Model config mapping: output index -> class name."""
    return dict(enumerate(LABEL_NAMES))


def label2id() -> dict[str, int]:
    """Model config mapping: class name -> output index."""
    return {name: i for i, name in enumerate(LABEL_NAMES)}
