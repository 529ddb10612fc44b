"""What docs/security.md promises about the code base, checked.

bandit's assert rule (B101) is skipped in pyproject.toml because every assert in the
shipped packages only narrows a type for the type checker; this test keeps that true,
so ``python -O`` can never remove a check that guards anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("console", "adapters", "widgets", "screens", "themes", "runbooks")


def _narrows_only(test: ast.expr) -> bool:
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return all(_narrows_only(value) for value in test.values)
    return (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.IsNot)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    )


def test_every_assert_in_the_shipped_code_only_narrows_a_type():
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Assert) and not _narrows_only(node.test):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")

    assert offenders == [], "raise an error instead: python -O removes asserts"


def test_ci_runs_the_security_checks_after_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    check = (ROOT / "scripts" / "security-check").read_text()

    assert ci.index(" ./run test\n") < ci.index("\nbash scripts/security-check\n")
    assert "bandit -c pyproject.toml" in check
    assert "pip_audit" in check
    assert "NOT AUDITED" in check, "packages the service cannot look up are said to be unaudited, never passed"
    assert (ROOT / "requirements.lock").read_text().count("==") > 10


def test_bandit_finds_nothing_in_the_shipped_packages():
    # The same run as scripts/security-check's, inside the suite, so a finding shows in
    # any test run and not only at the end of CI (a variable named `token` compared with
    # "*" once failed CI after every test had passed).
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bandit", "-c", "pyproject.toml", "-q", "-r", *PACKAGES],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )

    assert done.returncode == 0, done.stdout[-4000:]
