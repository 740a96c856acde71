"""normtheory.figures.style.save writes each figure atomically: an interrupted save leaves
the previous PNG / PDF whole and no temporary file behind."""

import pytest

from normtheory.figures import style


def figure():
    fig, ax = style.plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_save_writes_a_png_and_a_pdf_and_nothing_else(tmp_path):
    fig = figure()
    paths = style.save(fig, tmp_path / "sub" / "fig")
    style.plt.close(fig)
    assert [p.name for p in paths] == ["fig.png", "fig.pdf"]
    assert paths[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert paths[1].read_bytes().startswith(b"%PDF") and paths[1].read_bytes().rstrip().endswith(b"%%EOF")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fig.pdf", "fig.png"]


@pytest.mark.parametrize("failing", ["png", "pdf"])
def test_an_interrupted_save_leaves_the_previous_figure_whole(tmp_path, monkeypatch, failing):
    fig = figure()
    style.save(fig, tmp_path / "fig")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = fig.savefig

    def torn(target, *args, **kwargs):
        """Writes part of the file, then fails (a kill or a full disk mid-write)."""
        fmt = kwargs.get("format") or str(target).rsplit(".", 1)[-1]
        if fmt != failing:
            return real(target, *args, **kwargs)
        if hasattr(target, "write"):
            target.write(b"partial")
        else:
            with open(target, "wb") as fh:
                fh.write(b"partial")
        raise OSError("interrupted")

    monkeypatch.setattr(fig, "savefig", torn)
    with pytest.raises(OSError, match="interrupted"):
        style.save(fig, tmp_path / "fig")
    style.plt.close(fig)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
