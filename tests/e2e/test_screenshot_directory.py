"""Where the e2e screenshots go: a temporary folder unless LINESIGHT_SCREENSHOT_DIRECTORY names
one. No browser needed."""

from pathlib import Path

from tests.conftest import REPOSITORY_ROOT
from tests.e2e.conftest import resolve_screenshot_directory


def test_screenshots_go_to_the_temporary_folder_when_the_variable_is_unset_or_empty(tmp_path):
    assert resolve_screenshot_directory(None, tmp_path) == tmp_path
    assert resolve_screenshot_directory("", tmp_path) == tmp_path


def test_a_relative_folder_is_taken_from_the_repository_root(tmp_path):
    assert resolve_screenshot_directory("docs", tmp_path) == REPOSITORY_ROOT / "docs"


def test_an_absolute_folder_is_used_as_given(tmp_path):
    target = tmp_path / "pictures"
    assert resolve_screenshot_directory(str(target), Path("/unused")) == target


def test_no_e2e_test_names_the_docs_folder():
    # Screenshots go through the `screenshot_path` fixture; a hard-coded docs/ path would
    # rewrite the committed pictures on every run.
    offenders = [
        path.name
        for path in Path(__file__).parent.glob("test_*.py")
        if path.name != Path(__file__).name
        and ('"docs"' in path.read_text() or "docs/" in path.read_text())
    ]
    assert offenders == []
