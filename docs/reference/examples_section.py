"""Griffe extension for the API reference: read an `Example:` heading as `Examples:`.

Many core docstrings head their doctest lines with `Example:` (singular). Griffe's Google parser
knows only `Examples:` as the section whose `>>>` lines become code blocks; it renders `Example:`
as a plain admonition, where `>>>` turns into a block quote and `report["a"]["b"]` reads as a
Markdown reference link (which `mkdocs build --strict` then refuses as an unknown
cross-reference). Loaded by mkdocs.yml (`plugins.mkdocstrings...extensions`); it changes only
the text the documentation site renders, never the source files.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

EXAMPLE_HEADING = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)


class ExamplesSection(griffe.Extension):
    """Renames every `Example:` section heading to `Examples:` before docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = EXAMPLE_HEADING.sub(r"\g<indent>Examples:", docstring.value)
