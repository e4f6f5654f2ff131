"""Shared fixtures for the pytest-benchmark suites: catalogs generated once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import datagen  # noqa: E402

N = 200_000  # events per benchmark round; `kalshi bench` runs the full-size scenarios


@pytest.fixture(scope="session")
def l1_catalog(tmp_path_factory):
    return datagen.quotes_catalog(tmp_path_factory.mktemp("l1"), N)


@pytest.fixture(scope="session")
def l2_catalog(tmp_path_factory):
    return datagen.book_catalog(tmp_path_factory.mktemp("l2"), N)


@pytest.fixture(scope="session")
def merge_catalog(tmp_path_factory):
    return datagen.quotes_catalog(tmp_path_factory.mktemp("m1000"), N, n_markets=1000, n_files=10)
