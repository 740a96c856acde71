"""The output folder of a training run: what may be overwritten, what may be resumed.

A folder that already holds a run (``config.json``, ``checkpoint.pt`` or a ``log.jsonl``)
is continued only with ``resume`` and only under the same configuration (every field but
:data:`RESUME_FREE`, which say where and how far this invocation runs, not what is
trained), and is started over only with ``force``: a mistyped ``--out`` never deletes a
log, and a resumed run is never a mixture of two configurations.

All files go through :mod:`normtheory.durable`: ``config.json`` and ``checkpoint.pt`` are
replaced atomically, the logs are append-only, and each checkpoint also holds the log
records up to its epoch, from which :func:`restore_log` rewrites the log on resume, so a
log cut short or altered after the checkpoint is healed rather than trusted.
"""

from __future__ import annotations

from pathlib import Path

from normtheory.durable import JsonlLog, atomic_write_json, check_writable_dir, load_torch, read_json

RESUME_FREE = ("device", "compile", "max_steps", "check_every")
CHECKPOINT, CONFIG, LOG = "checkpoint.pt", "config.json", "log.jsonl"


def config_changes(saved: dict, config: dict, defaults: dict | None = None) -> list[str]:
    """``"field: saved -> new"`` for every field (but :data:`RESUME_FREE`) that differs; a field
    missing from ``saved`` (written before the field existed) counts as its value in ``defaults``."""
    saved = {**{k: v for k, v in (defaults or {}).items() if k in config}, **saved}
    keys = [k for k in {**saved, **config} if k not in RESUME_FREE]
    return [f"{k}: {saved.get(k)!r} -> {config.get(k)!r}" for k in keys if saved.get(k) != config.get(k)]


def _logs(out: Path) -> list[Path]:
    return [p for p in [out / LOG, *sorted(out.glob(f"seed_*/{LOG}"))] if p.exists()]


def prepare(out, config: dict, *, resume: bool, force: bool, defaults: dict | None = None) -> dict | None:
    """Check ``out`` for a run with ``config`` and write its ``config.json``; returns the
    checkpoint to resume from (``None``: start at epoch 0), loaded onto the CPU whatever the
    training device: the RNG states must be CPU byte tensors for ``torch.set_rng_state``, and
    model and optimizer states move to the device as they are loaded. ``ValueError`` (one line) for a
    folder that is not writable, a run that would be overwritten or resumed under another
    configuration, and a damaged ``config.json`` or checkpoint."""
    if resume and force:
        raise ValueError("--resume continues a run and --force starts it over: pass one of them")
    out = check_writable_dir(out)
    ckpt = out / CHECKPOINT
    existing = [p.name for p in (out / CONFIG, ckpt) if p.exists()] + [str(p.relative_to(out)) for p in _logs(out)]
    state = None
    if existing and not (resume or force):
        raise ValueError(f"{out} already holds a run ({', '.join(existing)}); pass --resume to continue it "
                         f"or --force to start it over")
    if resume and (out / CONFIG).exists():
        saved = read_json(out / CONFIG, hint="delete the folder's files or pass --force to start over")
        changes = config_changes(saved if isinstance(saved, dict) else {}, config, defaults)
        if changes:
            raise ValueError(f"--resume: the configuration differs from the run in {out} ({'; '.join(changes)}); "
                             f"use another --out, or --force to start it over")
    if resume and ckpt.exists():
        state = load_torch(ckpt, hint="it cannot be resumed: pass --force to start the run over",
                           map_location="cpu", weights_only=False)
    if force:
        for path in [ckpt, *_logs(out)]:
            path.unlink(missing_ok=True)
    atomic_write_json(out / CONFIG, config)
    return state


def restore_log(log: JsonlLog, state: dict | None, key=None) -> list[dict]:
    """The records of the finished epochs up to the checkpoint ``state`` (``key``: a seed's
    records in a stacked checkpoint), written to ``log`` in place of whatever it held."""
    if state is None:
        records = []
    elif "log" in state:
        records = list(state["log"] if key is None else state["log"][key])
    else:  # a checkpoint written before the records were kept in it
        records = [r for r in log.records() if r["epoch"] <= state["epoch"]]
    log.rewrite(records)
    return records
