"""Golden translation tests: tests/golden/<case>/ holds manifests (*.yaml),
expected.json (what `alb translate` prints) and expected.diag (its
diagnostics). `make golden` regenerates the expected files; a reviewer
reads their diff."""
import os
import subprocess

import pytest

from conftest import ALB_BIN

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden")
CASES = sorted(d for d in os.listdir(GOLDEN) if os.path.isdir(os.path.join(GOLDEN, d)))


def translate(case):
    d = os.path.join(GOLDEN, case)
    out = subprocess.run([ALB_BIN, "translate", "--manifests", d], capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout, out.stderr.replace(d, "DIR")


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    rc, stdout, stderr = translate(case)
    d = os.path.join(GOLDEN, case)
    if os.environ.get("ALB_GOLDEN_UPDATE"):
        with open(os.path.join(d, "expected.json"), "w") as f:
            f.write(stdout)
        with open(os.path.join(d, "expected.diag"), "w") as f:
            f.write(f"exit {rc}\n{stderr}")
    with open(os.path.join(d, "expected.json")) as f:
        assert stdout == f.read()
    with open(os.path.join(d, "expected.diag")) as f:
        assert f"exit {rc}\n{stderr}" == f.read()
