"""The result store: content addresses, append-only file, crash safety, the verify cache on it."""

import json
import subprocess
import sys

import numpy as np
import pytest

from normtheory.durable import CorruptFile, JsonlLog, TornLineWarning
from normtheory.store import STORE_FILE, ResultStore, result_key


def test_key_is_the_content_address_of_kind_and_spec():
    a = result_key("verify.measurement", {"seed": 1, "trials": 8, "setting": {"w": 4, "d": 2}})
    b = result_key("verify.measurement", {"setting": {"d": 2, "w": 4}, "trials": 8, "seed": 1})
    assert a == b and len(a) == 64
    assert a != result_key("verify.measurement", {"seed": 2, "trials": 8, "setting": {"w": 4, "d": 2}})
    assert a != result_key("figures.point", {"seed": 1, "trials": 8, "setting": {"w": 4, "d": 2}})


def test_put_get_survives_reopening_and_never_appends_a_stored_key_twice(tmp_path):
    store = ResultStore(tmp_path)
    key = store.put("k", {"seed": 3}, {"x": [1.0, 2.5]})
    assert store.get(key) == {"x": [1.0, 2.5]} and key in store
    assert store.put("k", {"seed": 3}, {"x": [9.0]}) == key       # first value wins
    store.put("k", {"seed": 4}, {"x": []})
    again = ResultStore(tmp_path)
    assert again.get(key) == {"x": [1.0, 2.5]} and len(again) == 2
    assert len((tmp_path / STORE_FILE).read_text().splitlines()) == 2
    assert [spec for _, spec, _ in again.entries("k")] == [{"seed": 3}, {"seed": 4}]


def test_torn_last_line_is_dropped_and_damage_is_a_one_line_error(tmp_path):
    store = ResultStore(tmp_path)
    for seed in range(3):
        store.put("k", {"seed": seed}, {"v": seed})
    path = tmp_path / STORE_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines) + "\n" + lines[0][:40])        # killed while appending
    with pytest.warns(TornLineWarning):
        assert len(ResultStore(tmp_path)) == 3
    path.write_text("\n".join([lines[0].replace('"v": 0', '"v": 7')] + lines[1:]) + "\n")
    with pytest.raises(CorruptFile, match="line 1: checksum"):
        ResultStore(tmp_path)
    # a record whose key is not the address of its spec (written by hand, CRC recomputed)
    log = JsonlLog(tmp_path / "other" / STORE_FILE, checksum=True)
    log.append({"key": "0" * 64, "kind": "k", "spec": {"seed": 0}, "value": 0})
    with pytest.raises(CorruptFile, match="does not match its spec"):
        ResultStore(tmp_path / "other")


def test_verify_cache_lives_in_the_store_and_still_reads_the_previous_cache_file(tmp_path):
    from test_verify_framework import _toy_claim

    from normtheory.runs.simulator import simulator_id
    from normtheory.verify.cache import MeasurementCache
    from normtheory.verify.registry import Measurement, Point

    claim, point = _toy_claim(), Point({"gain": 1.0}, 4)
    old = Measurement({"ratio": np.arange(4.0)}, 4)
    JsonlLog(tmp_path / "verify-measurements-v2.jsonl", checksum=True).append(
        {"claim": claim.id, "version": claim.version, "simulator": simulator_id(claim.backend),
         "setting_key": point.key, "seed": 5, "trials": 4, "measurement": old.to_json()})
    cache = MeasurementCache(tmp_path)
    assert cache.get(claim, point, 5, 4).data["ratio"].tolist() == [0, 1, 2, 3]
    assert cache.get(claim, point, 6, 4) is None
    new = Measurement({"ratio": np.ones(4) / 3}, 4)
    cache.put(claim, point, 6, 4, new)
    record = json.loads((tmp_path / STORE_FILE).read_text())
    assert record["kind"] == "verify.measurement" and record["spec"]["seed"] == 6
    assert MeasurementCache(tmp_path).get(claim, point, 6, 4).data["ratio"].tolist() == new.data["ratio"].tolist()
    assert len(MeasurementCache(tmp_path)) == 2


def test_the_serial_path_does_not_import_dask(tmp_path):
    code = ("import sys; from normtheory.cli import main; "
            "rc = main(['verify', '--quick', '--claims', 'B1b', '--no-progress', '--cache-dir', sys.argv[1]]); "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')], 'dask imported'; "
            "print('rc', rc)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rc 0" in out.stdout
    assert (tmp_path / STORE_FILE).exists()
