"""normtheory.cliflags: the shared flags parse as each command had them, and the module
imports neither torch nor the rest of normtheory."""

import argparse
import subprocess
import sys

import pytest

from normtheory import cliflags


def test_importing_cliflags_imports_no_torch_and_no_other_part_of_normtheory():
    code = ("import sys, normtheory.cliflags; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('normtheory.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['normtheory.cliflags']"


def test_size_flags_are_exclusive_and_store_their_name():
    p = argparse.ArgumentParser()
    cliflags.add_size_flags(p, dest="mode", default="quick", sizes={"quick": "q", "full": "f"})
    assert p.parse_args([]).mode == "quick" and p.parse_args(["--full"]).mode == "full"
    with pytest.raises(SystemExit):
        p.parse_args(["--quick", "--full"])


def test_the_other_flags_keep_their_names_defaults_and_help():
    p = argparse.ArgumentParser()
    cliflags.add_progress_flag(p, "--no-progress")
    cliflags.add_device_flag(p)
    cliflags.add_seed_flag(p, what="random")
    cliflags.add_store_flag(p, item="setting", shared_with="verify", otherwise="only --out")
    args = p.parse_args([])
    assert (args.no_progress, args.device, args.seed, args.cache_dir) == (False, "auto", 0, None)
    text = " ".join(p.format_help().split())
    for phrase in ("no progress bar", "auto, cpu or cuda[:N] (default auto)", "random seed (default 0)",
                   "keep each finished setting in the result store in DIR (shared with verify, "
                   "e.g. .normtheory-cache) for every later run (default: only --out)"):
        assert phrase in text
