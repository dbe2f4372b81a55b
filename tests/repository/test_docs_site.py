"""The documentation site builds without a warning, and README.md stays a short, linked front page.

`mkdocs build --strict` fails on any warning: a page missing from the nav, a broken link or anchor,
an API reference target that does not resolve. README.md links into docs/ with relative links so
they work on GitHub; each must point to a file that exists.
"""

import importlib.util
import os
import re
import subprocess
import sys
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import REPOSITORY_ROOT

README = REPOSITORY_ROOT / "README.md"
REFERENCE_DIRECTORY = REPOSITORY_ROOT / "docs" / "reference"
MAX_README_LINES = 200
# Inline links and images: [text](target) and ![alt](target), with an optional "title".
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# Reference definitions: [label]: target
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)


def relative_targets(markdown: str) -> list[str]:
    """Returns the link targets of `markdown` that are paths in the repository (no URL, no anchor
    of the same page), without their `#anchor` or `?query`."""
    targets = MARKDOWN_LINK.findall(markdown) + REFERENCE_DEFINITION.findall(markdown)
    paths = []
    for target in targets:
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or target.startswith("#"):
            continue
        paths.append(unquote(parts.path))
    return paths


def test_relative_targets_finds_paths_and_skips_urls_and_anchors():
    markdown = (
        "![Home](docs/home.png) [guide](docs/guide.md#top) [site](https://example.com/x.md)\n"
        '[up](#quick-start) [mail](mailto:a@b.c) [t](docs/a%20b.md "Title")\n'
        "[ref]: docs/cluster.md\n"
    )
    assert relative_targets(markdown) == [
        "docs/home.png",
        "docs/guide.md",
        "docs/a b.md",
        "docs/cluster.md",
    ]


def test_readme_is_at_most_200_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; keep it at most {MAX_README_LINES} and move details "
        "into a page under docs/"
    )


def test_every_relative_link_in_the_readme_points_to_an_existing_file():
    targets = relative_targets(README.read_text(encoding="utf-8"))
    assert targets, "README.md should link into docs/"
    missing = [target for target in targets if not (REPOSITORY_ROOT / target).is_file()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_readme_keeps_the_test_command_that_ci_runs():
    ci_script = (REPOSITORY_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = 'pip install -e ".[test]" && pytest'
    assert command in ci_script
    assert command in README.read_text(encoding="utf-8")


def test_every_core_package_has_an_api_reference_page():
    # Modules inside a package appear by themselves (show_submodules); a new package needs a page
    # (and a line in the nav of mkdocs.yml, which the strict build checks).
    packages = sorted(path.parent.name for path in (REPOSITORY_ROOT / "core").glob("*/__init__.py"))
    missing = [
        package
        for package in packages
        if not (REFERENCE_DIRECTORY / f"{package}.md").is_file()
        or f"::: core.{package}" not in (REFERENCE_DIRECTORY / f"{package}.md").read_text()
    ]
    assert not missing, f"add docs/reference/<package>.md with '::: core.<package>' for {missing}"


def test_documentation_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[test]'")
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    # Offline: no web font (theme.font: false) nor any other asset from Google's servers.
    assert "fonts.googleapis.com" not in index and "fonts.gstatic.com" not in index
    assert (tmp_path / "reference" / "engine.html").is_file()
