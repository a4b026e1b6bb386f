"""The README's commands are the real ones: CI runs exactly the README's test command, and the documented CLI
commands parse (their --dry-run prints the plan without training)."""
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _code_lines(text: str = README):
    """Lines of the shell code blocks (fences with no language, bash, sh or console) of a Markdown text."""
    lines, lang = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            lang = line[3:].strip() if lang is None else None
        elif lang in ("", "bash", "sh", "console") and line.strip():
            lines.append(line.strip())
    return lines


def test_ci_runs_the_readme_test_command():
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert len(ci) == 1, ci
    assert ci[0] in _code_lines(), f"README must show the CI command: {ci[0]}"


def test_readme_setup_installs_and_starts_the_app():
    assert "pip install -r requirements.txt && python app.py" in _code_lines()


def test_readme_cli_commands_dry_run(tmp_path):
    """The README's commands, and those of the docs it links to, parse and resolve (--dry-run)."""
    cmds = [c for c in _code_lines() if c.startswith(("python -m atu ", "python -m atu.bench "))]
    assert any(" unlearn " in c for c in cmds) and any("train-gan" in c for c in cmds)
    assert any(" push " in c for c in cmds) and any("atu.bench" in c for c in cmds)
    docs = [c for f in sorted((ROOT / "docs").glob("*.md")) if "notebook" not in f.name   # notebooks: history
            for c in _code_lines(f.read_text())
            if c.startswith(("python -m atu ", "python -m atu.bench "))]
    for c in dict.fromkeys(cmds + docs):
        words = shlex.split(c)   # as the shell reads it: --grid '' is an empty argument
        module, args = words[2], words[3:]
        if args[0] == "push":
            # push talks to the Hub: its real path runs in tests/test_hub.py. Here it runs where its run folder does
            # not exist, so that it parses its arguments and stops at the folder check, before any card is touched
            # or the (dead) endpoint is called: a misspelt or missing option would stop it at argparse instead
            env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_ENDPOINT": "http://127.0.0.1:9"}
            out = subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True,
                                 text=True, timeout=120)
            assert out.returncode == 2 and "is not a folder" in out.stderr and "usage:" not in out.stderr, \
                (c, out.stderr[-2000:])
            continue
        out = subprocess.run([sys.executable, "-m", module, *args, "--dry-run"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, (c, out.stderr[-2000:])
