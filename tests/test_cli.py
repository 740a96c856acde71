import subprocess
import sys

import normtheory
from normtheory.cli import build_parser


def test_version_flag_prints_package_version(capsys):
    parser = build_parser()
    try:
        parser.parse_args(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert normtheory.__version__ in capsys.readouterr().out


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "normtheory.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("verify", "figures", "train", "experiment"):
        assert name in out
