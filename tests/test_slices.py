"""The data shipped under tests/slices are the lines of the upstream files that SOURCES.md names."""

from __future__ import annotations

import pytest

from tests.slices.make_slices import SLICES, expected_lines, shipped_lines


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(SLICES))
def test_each_slice_is_the_named_lines_of_its_upstream_file(shared_data, name):
    assert shipped_lines(name) == expected_lines(name, shared_data)


def test_every_shipped_slice_is_listed_in_sources():
    from tests.slices.make_slices import HERE

    sources = (HERE / "SOURCES.md").read_text()
    shipped = sorted(str(p.relative_to(HERE)) for p in HERE.rglob("*.csv*"))
    assert shipped == sorted(SLICES)
    assert all(f"`{name}`" in sources for name in shipped)
