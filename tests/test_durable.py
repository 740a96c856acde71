"""Durable files: torn JSONL tails, corrupt lines, checksums, atomic writes, checkpoints."""

import json
import os

import pytest

from normtheory.durable import (CorruptFile, JsonlLog, TornLineWarning, atomic_save_torch, atomic_write,
                                atomic_write_json, check_writable_dir, load_torch, read_json)


def _log(tmp_path, text: bytes, **kwargs) -> JsonlLog:
    path = tmp_path / "log.jsonl"
    path.write_bytes(text)
    return JsonlLog(path, **kwargs)


def test_append_and_read_back(tmp_path):
    log = JsonlLog(tmp_path / "sub" / "log.jsonl")
    assert log.records() == []
    log.append({"a": 1, "x": float("nan")})
    log.append({"a": 2})
    got = JsonlLog(log.path).records()
    assert [r["a"] for r in got] == [1, 2] and got[0]["x"] != got[0]["x"]


@pytest.mark.parametrize("tail", [b'{"a": 3', b'{"a": 3\n', b"\x00\x00\x00", b'{"a"\xff'])
def test_a_torn_last_line_is_dropped_once_and_the_next_append_starts_a_fresh_line(tmp_path, tail):
    log = _log(tmp_path, b'{"a": 1}\n{"a": 2}\n' + tail)
    with pytest.warns(TornLineWarning, match="log.jsonl"):
        assert log.records() == [{"a": 1}, {"a": 2}]
    log.append({"a": 3})
    assert log.path.read_bytes() == b'{"a": 1}\n{"a": 2}\n{"a": 3}\n'


def test_a_complete_last_record_without_its_newline_is_kept_and_ended(tmp_path, recwarn):
    log = _log(tmp_path, b'{"a": 1}\n{"a": 2}')
    log.append({"a": 3})
    assert [r["a"] for r in JsonlLog(log.path).records()] == [1, 2, 3] and not recwarn.list


def test_append_without_reading_first_repairs_the_tail(tmp_path):
    log = _log(tmp_path, b'{"a": 1}\n{"a": 2')
    with pytest.warns(TornLineWarning):
        log.append({"a": 3})
    assert log.path.read_bytes() == b'{"a": 1}\n{"a": 3}\n'


@pytest.mark.parametrize("middle, word", [(b'{"a": 2', "unreadable JSON"), (b"\x89PNG\x00\xff", "binary data"),
                                          (b"[1, 2]", "a JSON list, not an object")])
def test_an_unreadable_line_in_the_middle_names_file_and_line(tmp_path, middle, word):
    log = _log(tmp_path, b'{"a": 1}\n' + middle + b'\n{"a": 3}\n', hint="delete it")
    with pytest.raises(CorruptFile, match=rf"log.jsonl, line 2: {word}.*; delete it"):
        log.records()
    assert b'{"a": 3}' in log.path.read_bytes()  # nothing dropped on an error


def test_checksums_catch_an_altered_digit(tmp_path):
    log = JsonlLog(tmp_path / "p.jsonl", checksum=True)
    log.append({"v": 0.125})
    log.append({"v": 0.5})
    assert JsonlLog(log.path, checksum=True).records() == [{"v": 0.125}, {"v": 0.5}]
    log.path.write_bytes(log.path.read_bytes().replace(b"0.125", b"0.175"))
    with pytest.raises(CorruptFile, match="line 1: checksum mismatch"):
        JsonlLog(log.path, checksum=True).records()


def test_rewrite_replaces_the_log(tmp_path):
    log = _log(tmp_path, b'{"a": 1}\n{"a": 2}\n', checksum=False)
    log.rewrite([{"a": 9}])
    assert log.records() == [{"a": 9}]


def test_atomic_write_leaves_the_old_file_on_error(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write("{half")
            raise RuntimeError("killed")
    assert read_json(path) == {"v": 1} and os.listdir(tmp_path) == ["f.json"]


def test_read_json_errors_are_one_line(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text('{"a": ')
    with pytest.raises(CorruptFile, match=r"meta.json: unreadable JSON .*; pass --force") as info:
        read_json(path, hint="pass --force")
    assert "\n" not in str(info.value)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(CorruptFile, match="binary data"):
        read_json(path)


def test_checkpoints_round_trip_and_any_damage_is_caught(tmp_path):
    import random

    import torch

    path = tmp_path / "checkpoint.pt"
    state = {"w": torch.arange(300, dtype=torch.float32), "epoch": 3}
    atomic_save_torch(path, state)
    assert torch.equal(load_torch(path)["w"], state["w"])
    good = path.read_bytes()
    rng = random.Random(0)
    for _ in range(60):
        damaged = bytearray(good)
        if rng.random() < 0.5:
            damaged = damaged[:rng.randrange(len(good))]
        else:
            i = rng.randrange(len(good))
            damaged[i] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(damaged))
        try:
            got = load_torch(path, hint="delete it")
        except CorruptFile as exc:
            assert "checkpoint.pt" in str(exc) and "\n" not in str(exc)
            continue
        assert torch.equal(got["w"], state["w"]) and got["epoch"] == 3  # the flip hit padding


def test_check_writable_dir(tmp_path):
    assert check_writable_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cannot write to"):
        check_writable_dir(tmp_path / "file" / "sub")


def test_log_records_are_plain_json_lines(tmp_path):
    log = JsonlLog(tmp_path / "l.jsonl")
    log.append({"epoch": 0, "loss": 1.5})
    assert [json.loads(line) for line in log.path.read_text().splitlines()] == [{"epoch": 0, "loss": 1.5}]
