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


def _put_all(directory, keys, barrier):
    from normtheory.store import ResultStore

    store = ResultStore(directory)
    barrier.wait()
    for k in keys:
        if store.lookup("kind", {"k": k}) is None:
            store.put("kind", {"k": k}, {"value": k, "pid": __import__("os").getpid()})


def test_two_clients_on_one_store_never_append_a_key_twice(tmp_path):
    import multiprocessing

    from normtheory.store import STORE_FILE, ResultStore

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_put_all, args=(tmp_path, list(range(7)), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = (tmp_path / STORE_FILE).read_text().splitlines()
    assert len(lines) == 7
    assert ResultStore(tmp_path).count() == 7


def test_a_client_reads_what_another_client_stored_since_it_opened(tmp_path):
    from normtheory.store import ResultStore

    first, second = ResultStore(tmp_path), ResultStore(tmp_path)
    first.put("kind", {"a": 1}, [1.0])
    assert second.lookup("kind", {"a": 1}) == [1.0]
    second.put("kind", {"a": 1}, [2.0])  # already stored by the other client: nothing appended
    first.put("kind", {"a": 2}, [3.0])
    assert second.put("kind", {"a": 2}, [4.0]) and second.lookup("kind", {"a": 2}) == [3.0]
    assert len(ResultStore(tmp_path)) == 2 and len(first.path.read_text().splitlines()) == 2
