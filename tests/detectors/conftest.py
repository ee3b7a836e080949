"""Fixtures for the detector tests, on every database tier of tests/conftest.py."""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.detectors.world import World


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture
def world(conn: psycopg.Connection[dict[str, Any]]) -> World:
    return World(conn)
