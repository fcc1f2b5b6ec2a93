"""One stack from the images per session (tests/images/images_stack.py); see test_images_stack.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from images_stack import SKIP_ENV, ImageStack


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the explicit opt-out: deselected (and said so), never reported as passed
    if os.environ.get(SKIP_ENV) == "1":
        kept = [i for i in items if i.get_closest_marker("images") is None]
        dropped = [i for i in items if i.get_closest_marker("images") is not None]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
            print(f"\n{SKIP_ENV}=1: the image smoke suite ({len(dropped)} tests) was NOT run", file=sys.stderr)


@pytest.fixture(scope="session")
def image_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageStack]:
    """Images built (cached), the stack up from them with a tfidf champion, torn down (volumes too) after."""
    with ImageStack.start(tmp_path_factory.mktemp("images")) as stack:
        yield stack
