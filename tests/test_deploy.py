"""The systemd unit and timer and the crontab line that docs/operations.md ships: a data team copies them as they are.

`systemd-analyze verify` checks the units where it is installed (with the paths pointed at this checkout);
everywhere, the structure is checked: the command is a valid `ibr` command line, the exit codes the unit
treats as success are the ones `ibr run` gives for "published partial" and "waiting", and the timer starts
the service.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.cli import EXIT_PARTIAL, EXIT_WAITING, main

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
SHIPPED_ROOT = "/opt/ibr-warehouse"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((UNITS / name).read_text(encoding="utf-8"))
    return parser


def _ibr_arguments(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0].endswith("/bin/ibr"), words
    return words[1:]


def test_the_unit_runs_the_pending_nights_and_accepts_partial_and_waiting_as_success(tmp_path, monkeypatch):
    monkeypatch.setenv("IBR_HOME", str(tmp_path))
    service, timer = _unit("ibr-night.service"), _unit("ibr-night.timer")
    assert service["Service"]["Type"] == "oneshot"
    arguments = _ibr_arguments(service["Service"]["ExecStart"])
    assert arguments[:2] == ["run", "--pending"]
    assert sorted(int(c) for c in service["Service"]["SuccessExitStatus"].split()) == [
        EXIT_PARTIAL,
        EXIT_WAITING,
    ]
    environment = service["Service"]["Environment"]
    assert "IBR_HOME=" in environment or "IBR_HOME" in (UNITS / "ibr-night.service").read_text(
        encoding="utf-8"
    )
    assert service["Service"]["UMask"] == "0077"
    assert timer["Timer"]["Unit"] == "ibr-night.service"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    # the arguments are ones `ibr run` takes (argparse exits 2 on an unknown one)
    monkeypatch.setattr("pipelines.cli.cmd_run", lambda args, settings: 0)
    assert main(arguments) == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_shipped_units(tmp_path):
    for name in ("ibr-night.service", "ibr-night.timer"):
        text = (UNITS / name).read_text(encoding="utf-8").replace(SHIPPED_ROOT, str(ROOT))
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert (ROOT / ".venv" / "bin" / "ibr").exists()
    done = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            str(tmp_path / "ibr-night.service"),
            str(tmp_path / "ibr-night.timer"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr.strip()) == (0, "")


def test_the_documented_crontab_line_is_a_valid_ibr_command(tmp_path, monkeypatch):
    monkeypatch.setenv("IBR_HOME", str(tmp_path))
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    (line,) = re.findall(r"^(?:\S+[ \t]+){5}IBR_HOME=.*ibr run.*$", docs, flags=re.MULTILINE)
    schedule, command = line.split(maxsplit=5)[:5], line.split(maxsplit=5)[5]
    assert schedule[0].isdigit() and schedule[1].replace("-", "").isdigit()
    command = command.split(">>")[0]
    words = shlex.split(command)
    ibr = next(i for i, w in enumerate(words) if w.endswith("/bin/ibr"))
    monkeypatch.setattr("pipelines.cli.cmd_run", lambda args, settings: 0)
    assert main(words[ibr + 1 :]) == 0
