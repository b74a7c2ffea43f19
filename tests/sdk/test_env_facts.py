"""Which installed distributions a step's module uses: found by files where top_level.txt is missing."""

from __future__ import annotations

import pytest

from tracker.sdk._env import _distributions, _top_name


def test_wheels_without_top_level_txt_are_found() -> None:
    """numpy's wheel ships no top_level.txt; Python 3.10's packages_distributions() missed it."""
    found = _distributions()
    assert "numpy" in found["numpy"] and "pytest" in found["pytest"]


@pytest.mark.parametrize(
    ("path", "top"),
    [
        ("numpy/__init__.py", "numpy"),
        ("numpy/linalg/_umath_linalg.cpython-311-x86_64-linux-gnu.so", "numpy"),
        ("six.py", "six"),
        ("_cffi_backend.cpython-311-x86_64-linux-gnu.so", "_cffi_backend"),
        ("numpy-2.2.6.dist-info/RECORD", ""),
        ("../../../bin/f2py", ""),
        ("numpy.libs/libgfortran.so", ""),
        ("README.md", ""),
        ("pkg.data/scripts/x", ""),
    ],
)
def test_the_import_name_of_an_installed_file(path: str, top: str) -> None:
    assert _top_name(path) == top
