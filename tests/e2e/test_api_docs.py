"""docs/api.md, run: its Python blocks, in order, as one script in a fresh folder (a real
study on digits through `study.run`, then `status`, `load`, `compare` and `report`), and the
LaTeX table the report wrote, checked as LaTeX; every trial run's provenance."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.analysis.test_latex import check_latex_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_the_api_quickstart_runs_as_written(tmp_path: Path) -> None:
    blocks = code_blocks(DOC.read_text())
    assert len(blocks) == 4
    script = tmp_path / "quickstart.py"
    script.write_text("\n".join(blocks))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "comparisons.tex" in proc.stdout and "lace vs ce" in proc.stdout
    check_latex_table((tmp_path / "reports" / "api_demo" / "comparisons.tex").read_text())
    # provenance: each trial run's environment, and the report's header says the hardware
    found = [json.loads(p.read_text()) for p in tmp_path.glob("mlartifacts/**/environment.json")]
    assert len(found) == 6 and all(e["torch"] == "2.14.1" and e["hardware"] for e in found)
    assert len({e["lock_sha256"] for e in found}) == 1 and found[0]["hostname"]
    assert "Hardware: " in (tmp_path / "reports" / "api_demo" / "report.md").read_text()
