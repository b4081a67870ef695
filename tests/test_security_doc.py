"""docs/security.md names, for each rule, the test that shows it: every name it gives
must be a test that exists, so the document cannot drift from the suite."""
from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "security.md"
# `file.py::test_name`, or `::test_name` for the file named last before it
REFERENCE = re.compile(r"`(test_\w+\.py)?::(test_\w+)`")


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_test_named_in_the_security_doc_exists():
    references, current = [], None
    for match in REFERENCE.finditer(DOC.read_text("utf-8")):
        current = match.group(1) or current
        assert current, f"::{match.group(2)} names no file"
        references.append((current, match.group(2)))
    assert len(references) > 40
    missing = [f"{file}::{name}" for file, name in references
               if not (TESTS / file).exists() or name not in defined_tests(TESTS / file)]
    assert not missing, missing
