"""normtheory.diagnose: the paper's properties at init for any torch model (docs/diagnose.md).

Small networks (widths 8-16, 8x8 or 4x4 inputs, few inits) so the file runs in well under a
minute on two cores."""

import functools
import json
import math
import sys

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats
from torch import nn

from normtheory import bounds, diagnose, nets, probes
from normtheory.cli import main

QUANTITIES = ("variance", "cosine", "stable_rank", "stable_rank_rownorm", "grad_input_sq", "grad_conv_out_norm")


def _conv(cin, cout, stride=1):
    """A 3x3 conv, padding 1, no bias, Kaiming normal fan-in (gain sqrt 2), as in docs/settings.md."""
    conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    return conv


class TorchPostAct(nn.Module):
    """The post-activation ResNet of normtheory.nets written in plain torch: stem conv-norm-ReLU, blocks
    ``relu(norm(conv(relu(norm(conv(x))))) + shortcut(x))``, shortcut ``norm(conv_s2(x))`` on a change of
    shape, global pooling and a linear head."""

    def __init__(self, norm, widths, blocks):
        super().__init__()
        self.stem = nn.Sequential(_conv(3, widths[0]), norm(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for stage, width in enumerate(widths):
            for i in range(blocks):
                layers.append(TorchPostActBlock(norm, cin, width, 2 if stage > 0 and i == 0 else 1))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 100)

    def forward(self, x):
        return self.head(self.layers(self.stem(x)).mean(dim=(2, 3)))


class TorchPostActBlock(nn.Module):
    def __init__(self, norm, cin, cout, stride):
        super().__init__()
        self.conv1, self.n1, self.conv2, self.n2 = _conv(cin, cout, stride), norm(cout), _conv(cout, cout), norm(cout)
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout
                         else nn.Sequential(_conv(cin, cout, stride), norm(cout)))

    def forward(self, x):
        return torch.relu(self.n2(self.conv2(torch.relu(self.n1(self.conv1(x))))) + self.shortcut(x))


class TorchPreAct(nn.Module):
    """A pre-activation ResNet stage in plain torch (``norm=None``: no normalizer): stem conv-norm-ReLU,
    blocks ``x + conv(relu(norm(conv(relu(norm(x))))))``."""

    def __init__(self, norm, width, blocks):
        super().__init__()
        norm = norm or (lambda c: nn.Identity())
        self.stem = nn.Sequential(_conv(3, width), norm(width), nn.ReLU())
        self.blocks = nn.Sequential(*[TorchPreActBlock(norm, width) for _ in range(blocks)])
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class TorchPreActBlock(nn.Module):
    def __init__(self, norm, width):
        super().__init__()
        self.branch = nn.Sequential(norm(width), nn.ReLU(), _conv(width, width), norm(width), nn.ReLU(),
                                    _conv(width, width))

    def forward(self, x):
        return x + self.branch(x)


class GroupNormByHand(nn.Module):
    """GroupNorm in plain torch: per sample, over groups of ``group_size`` channels and all positions,
    biased variance, eps 1e-5, affine 1 / 0 at init."""

    def __init__(self, num_channels, group_size=4):
        super().__init__()
        self.g = group_size
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        b, c = x.shape[:2]
        xg = x.reshape(b, c // self.g, -1)
        y = (xg - xg.mean(-1, keepdim=True)) / torch.sqrt(xg.var(-1, unbiased=False, keepdim=True) + 1e-5)
        shape = (1, c) + (1,) * (x.dim() - 2)
        return y.reshape(x.shape) * self.weight.view(shape) + self.bias.view(shape)


def _se(point, q, n):
    return (point[f"{q}_high"] - point[f"{q}_low"]) / 2 / scipy_stats.t.ppf(0.975, n - 1)


def test_resnet_gn_from_nets_agrees_with_the_same_network_in_plain_torch():
    """Same law, independent draws (seeds 0 and 1): every per-point mean agrees within Monte Carlo error
    (|difference| below 4 standard errors), at every point of both stages."""
    inits = 8
    ours = diagnose.diagnose(lambda: nets.build("resnet56", "groupnorm", group_size=4, widths=(8, 16),
                                                blocks_per_stage=2),
                             input_shape=(3, 8, 8), batch=8, inits=inits, seed=0, progress=False)
    plain = diagnose.diagnose(lambda: TorchPostAct(lambda c: nn.GroupNorm(c // 4, c), (8, 16), 2),
                              input_shape=(3, 8, 8), batch=8, inits=inits, seed=1, progress=False,
                              where=["stem"] + [f"layers.{i}" for i in range(4)])
    assert [p["channels"] for p in ours.points] == [p["channels"] for p in plain.points] == [8, 8, 8, 16, 16]
    assert len(ours.records) == len(plain.records) == inits * 5
    for a, b in zip(ours.points, plain.points):
        for q in QUANTITIES:
            gap = abs(a[q] - b[q]) / math.hypot(_se(a, q, inits), _se(b, q, inits))
            assert gap < 4, (a["name"], q, a[q], b[q], gap)


def _preact(norm):
    return diagnose.diagnose(lambda: TorchPreAct(norm, 32, 9), input_shape=(3, 4, 4), batch=8, inits=12,
                             where=["stem", TorchPreActBlock], progress=False)


def test_preact_resnet_with_batchnorm_grows_linearly_and_without_normalizers_geometrically():
    with_bn, without = _preact(nn.BatchNorm2d), _preact(None)
    assert with_bn.variance_growth == "linear", with_bn.summary()
    assert without.variance_growth == "geometric", without.summary()
    # the F4/F5 statistic: blocks 1, 5, 9 of the stage (the stem is point 0)
    assert with_bn.property_row("variance_regime")["points"] == "blocks.0, blocks.4, blocks.8"
    assert without.property_row("variance_regime")["estimate"] > 4 > with_bn.property_row("variance_regime")["high"]
    # no normalizer: the samples become alike (Daneshmand et al. 2020's rank collapse, paper section 4)
    assert without.property_row("similarity_drift")["finding"] == "increases"
    assert with_bn.property_row("rank_bound")["prediction"] == pytest.approx(0.5 * math.sqrt(32))


def test_a_user_groupnorm_gives_the_report_of_groupnorm():
    """Same seeds, same architecture: nets.build with a plain-torch GroupNorm as ``norm`` gives the numbers
    of normtheory's groupnorm (rank_bound aside: a user normalizer has no known closed form)."""
    kwargs = dict(input_shape=(3, 8, 8), batch=8, inits=3, progress=False)
    named = diagnose.diagnose(lambda: nets.build("resnet56_pre", "groupnorm", group_size=4, widths=(8,),
                                                 blocks_per_stage=3), **kwargs)
    user = diagnose.diagnose(lambda: nets.build("resnet56_pre", functools.partial(GroupNormByHand, group_size=4),
                                                widths=(8,), blocks_per_stage=3), **kwargs)
    for a, b in zip(named.records, user.records, strict=True):
        for q in QUANTITIES + ("grad_weight_sq",):
            assert b[q] == pytest.approx(a[q], rel=1e-4, nan_ok=True), (a["name"], q)
    assert sorted(r["property"] for r in named.properties) == sorted(r["property"] for r in user.properties)
    for a in named.properties:
        b = user.property_row(a["property"])
        if a["property"] != "rank_bound":
            assert (a["finding"], a["verdict"]) == (b["finding"], b["verdict"])
            assert b["estimate"] == pytest.approx(a["estimate"], rel=1e-4, nan_ok=True)
    assert named.property_row("rank_bound")["verdict"] != ""
    assert user.property_row("rank_bound")["finding"] == "not applicable"


def test_a_uniform_gn_cnn_shows_the_closed_form_beside_the_estimate():
    d = diagnose.diagnose(lambda: nets.build("uniform", "groupnorm", depth=4, width=16, group_size=4),
                          input_shape=(3, 4, 4), batch=8, inits=4, progress=False)
    row = d.property_row("gradient_growth")
    assert row["prediction"] == bounds.gradient_growth_per_layer("groupnorm", width=16, group_size=4, spatial=16,
                                                                 nonlinearity="relu")
    assert row["prediction_kind"] == "approximation" and math.isfinite(row["per_point"])
    # a residual network's blocks hold several normalizers: no prediction
    resnet = diagnose.diagnose(lambda: nets.build("resnet56", "groupnorm", group_size=4, widths=(16,),
                                                  blocks_per_stage=2), input_shape=(3, 4, 4), batch=8, inits=2,
                               progress=False)
    assert math.isnan(resnet.property_row("gradient_growth")["prediction"])


def test_records_are_reproducible_from_the_seed_and_outputs_are_written(tmp_path):
    def run(seed):
        return diagnose.diagnose(lambda: TorchPreAct(nn.BatchNorm2d, 8, 2), input_shape=(3, 4, 4), batch=4,
                                 inits=2, seed=seed, progress=False)
    a, b, c = run(5), run(5), run(6)
    assert json.dumps(a.records) == json.dumps(b.records) != json.dumps(c.records)  # NaN where no weights
    assert [r["name"] for r in a.points] == ["stem.1", "blocks.0.branch.0", "blocks.0.branch.3",
                                            "blocks.1.branch.0", "blocks.1.branch.3"]  # every normalizer
    assert {r["batch"] for r in a.records} == {4} and a.records[0]["model"].endswith("<lambda>")
    a.to_json(tmp_path / "d.json")
    doc = json.loads((tmp_path / "d.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
    assert len(doc["records"]) == 10 and doc["setting"]["seed"] == 5
    assert [p.name for p in a.plot(tmp_path / "d")] == ["d.png", "d.pdf"]
    assert (tmp_path / "d.png").stat().st_size > 0 and "variance growth" in a.summary()
    pd = pytest.importorskip("pandas")
    assert isinstance(a.to_dataframe(), pd.DataFrame) and len(a.to_dataframe()) == 10


def test_register_norm_and_where_types():
    class Scale(nn.Module):
        def forward(self, x):
            return x / x.std()

    model = lambda: nn.Sequential(nn.Conv2d(3, 4, 3), Scale(), nn.ReLU(), nn.Conv2d(4, 4, 3), Scale())
    with pytest.raises(ValueError, match="has no probe points"):
        diagnose.diagnose(model, input_shape=(3, 8, 8), batch=4, inits=2, progress=False)
    assert len(diagnose.diagnose(model, input_shape=(3, 8, 8), batch=4, inits=2, progress=False,
                                 where=Scale).points) == 2
    diagnose.register_norm(Scale)
    try:
        d = diagnose.diagnose(model, input_shape=(3, 8, 8), batch=4, inits=2, progress=False)
        assert [p["name"] for p in d.points] == ["1", "4"]
        assert np.isfinite(d.points[1]["grad_conv_out_norm"])  # the gradient at the normalizer's input
    finally:
        from normtheory.diagnose import points
        points._REGISTERED.remove(Scale)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch=1), "batch must be >= 2.*batch-statistic normalizers"),
    (dict(inits=1), "inits must be >= 2"),
    (dict(input_shape=(3, 0, 4)), "input_shape"),
    (dict(where=["blocks.0.branch.9"]), "no module named 'blocks.0.branch.9'"),
])
def test_bad_arguments_give_clear_errors(kwargs, match):
    args = dict(input_shape=(3, 4, 4), batch=4, inits=2, progress=False) | kwargs
    with pytest.raises(ValueError, match=match):
        diagnose.diagnose(lambda: TorchPreAct(nn.BatchNorm2d, 8, 1), **args)


def test_probe_refuses_points_not_called_or_changed_in_place():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True))
    x = torch.randn(4, 3, 6, 6)
    with pytest.raises(ValueError, match="changed in place"):
        probes.probe(model, x, points=[("1", model[1])])
    with pytest.raises(ValueError, match="not called"):
        probes.probe(model, x, points=[("extra", nn.ReLU())])
    model[2].inplace = False
    (rec,) = probes.probe(model, x, points=[("1", model[1])])
    assert rec["variance"] == pytest.approx(1.0, abs=1e-3)


def test_build_takes_a_callable_norm_and_refuses_what_does_not_apply():
    ours = nets.build("resnet56", "groupnorm", group_size=4, widths=(8,), blocks_per_stage=2)
    user = nets.build("resnet56", functools.partial(GroupNormByHand, group_size=4), widths=(8,), blocks_per_stage=2)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in user.parameters())
    with pytest.raises(ValueError, match="group_size apply to .* not to the callable norm"):
        nets.build("resnet56", GroupNormByHand, group_size=4)
    with pytest.raises(ValueError, match="not to the theory MLP"):
        nets.build("mlp", GroupNormByHand, width=8, depth=2)
    parametric = functools.partial(GroupNormByHand)
    parametric.family = "parametric"
    with pytest.raises(ValueError, match="must be activation-based"):
        nets.build("vgg10", parametric)


USER_MODULE = '''
import torch
from torch import nn

class MyNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gn = nn.GroupNorm(max(c // 4, 1), c)
    def forward(self, x):
        return self.gn(x)

def factory():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.GroupNorm(2, 8))
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "diag_user_mod.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    sys.modules.pop("diag_user_mod", None)


def test_cli_writes_table_csv_json_and_plots(user_module, capsys):
    out = user_module / "out"
    rc = main(["diagnose", "diag_user_mod:factory", "--input", "3,6,6", "--batch", "4", "--inits", "3",
               "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["diagnosis.csv", "diagnosis.json", "diagnosis.pdf",
                                                      "diagnosis.png", "diagnosis.txt"]
    assert len((out / "diagnosis.csv").read_text().splitlines()) == 1 + 3 * 3
    assert "gradient_growth" in (out / "diagnosis.txt").read_text()
    rc = main(["diagnose", "--arch", "resnet56", "--norm", "diag_user_mod:MyNorm", "--widths", "8",
               "--blocks-per-stage", "2", "--input", "3,4,4", "--batch", "4", "--inits", "2", "--quiet"])
    assert rc == 0 and "block2" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["nosuch_mod_xyz:factory"], "factory 'nosuch_mod_xyz:factory': cannot import nosuch_mod_xyz"),
    (["diag_user_mod:nothing"], "has no 'nothing'"),
    (["diag_user_mod:factory", "--input", "3,x"], "--input must be comma-separated positive ints"),
    (["diag_user_mod:factory", "--input", "5,6,6"], "the model fails on a batch of shape"),
    (["diag_user_mod:factory", "--batch", "1"], "batch must be >= 2, got 1: its batch-statistic"),
    (["--arch", "resnet56"], "--arch needs --norm"),
    (["--arch", "resnet56", "--norm", "nosuchnorm"], "nosuchnorm"),
    (["--arch", "resnet56", "--norm", "groupnorm", "--where", "nope"], "no module named 'nope'"),
])
def test_cli_bad_input_is_one_clear_line(user_module, capsys, argv, message):
    if "--batch" in argv:  # a model whose normalizers use batch statistics
        (user_module / "diag_user_mod.py").write_text(USER_MODULE.replace("nn.GroupNorm(2, 8)", "nn.BatchNorm2d(8)"))
    rc = main(["diagnose", *argv, "--inits", "2", "--quiet"] + ([] if "--input" in argv else ["--input", "3,4,4"]))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("normtheory diagnose: error:")
    assert message in err, err
