"""Findings prose rendered from a verify JSON: every quoted number is read from the run."""

import json
from pathlib import Path

import pytest

from normtheory.verify import findings, report
from tests.test_verify_framework import TOY_DELTA, _run, _toy_claim
from tests.test_verify_rivals import _with_rivals

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def doc():
    results = _run([_with_rivals(_toy_claim(trials=400), 1 + 4 * TOY_DELTA),
                    _toy_claim(1 + 2 * TOY_DELTA, claim_id="TOYBAD")], tests=6)
    return json.loads(json.dumps(report.to_json(results, mode="quick", seed=0)))


def test_a_reference_reads_the_one_matching_row(doc):
    row = next(r for r in doc["results"] if r["claim"] == "TOY" and r["setting"]["gain"] == 1.3)
    assert findings.render("{{TOY gain=1.3 | estimate}}", doc) == format(row["estimate"], ".4g")
    assert findings.render("x {{ TOY gain=1.3 | gap | +.2f }} y", doc) == f"x {row['gap']:+.2f} y"
    ci = findings.render("{{TOY gain=1.3 | ci | .3f}}", doc)
    assert ci == f"{row['estimate']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    assert findings.render("{{run | settings}} settings, {{run | claims}} claims", doc) == "6 settings, 2 claims"


@pytest.mark.parametrize("ref, word", [("{{TOY width=64 | estimate}}", "matches 3 rows"),
                                       ("{{TOY gain=9 | estimate}}", "matches 0 rows"),
                                       ("{{TOY gain=1.3 | colour}}", "field must be one of"),
                                       ("{{TOY gain | estimate}}", "key=value"),
                                       ("{{TOY gain=1.3}}", "expected 'WHAT | FIELD'")])
def test_a_bad_reference_is_an_error_naming_it(doc, ref, word):
    with pytest.raises(ValueError, match=word):
        findings.render(ref, doc)


def test_tables_and_the_readme_block(doc, tmp_path):
    text = findings.render("{{summary}}\n\n{{rivals}}\n\n{{not-agree}}", doc)
    assert "| TOYBAD" in text and "disagree 3" in text
    assert "the toy form times 1.2" in text and "rejected" in text
    assert text.count("| TOYBAD ") == 4  # its summary line and its three settings that disagree
    target = tmp_path / "README.md"
    target.write_text(f"# x\n{findings.BEGIN}\nold\n{findings.END}\nafter\n")
    (tmp_path / "t.md").write_text("n = {{run | settings}}")
    (tmp_path / "run.json").write_text(json.dumps(doc))
    assert findings.main([str(tmp_path / "run.json"), str(tmp_path / "t.md"), "--into", str(target)]) == 0
    assert target.read_text() == f"# x\n{findings.BEGIN}\nn = 6\n{findings.END}\nafter\n"
    target.write_text("no markers")
    assert findings.main([str(tmp_path / "run.json"), str(tmp_path / "t.md"), "--into", str(target)]) == 2


def test_the_json_schema_page_is_the_report_docstring():
    from normtheory.verify import report
    page = (ROOT / "docs" / "verify-json.md").read_text()
    schema = page.split("```text\n", 1)[1].split("\n```", 1)[0]
    assert f'"schema": "{report.SCHEMA}"' in schema
    doc_lines = [ln[4:] for ln in report.__doc__.split("::\n\n", 1)[1].split("\n\n")[0].split("\n")]
    assert schema.split("\n") == doc_lines
    assert " ".join(page.split("```", 2)[2].split()) in " ".join(report.__doc__.split())


def test_the_claims_page_is_the_registry():
    from normtheory.verify import registry, report
    registry.load_claims()
    assert (ROOT / "docs" / "claims.md").read_text() == report.catalogue(registry.registered()), \
        "regenerate with: normtheory verify --list --report docs/claims.md"


def test_a_reference_reads_a_rival_of_the_row(doc):
    row = next(r for r in doc["results"] if r["claim"] == "TOY" and r["setting"]["gain"] == 1.3)
    [rival] = row["rivals"]
    assert findings.render("{{TOY gain=1.3 | rival x1.2}}", doc) == format(rival["theory"], ".4g")
    assert findings.render("{{TOY gain=1.3 | rival-gap x1.2 | +.1f}}", doc) == f"{rival['gap']:+.1f}"
    with pytest.raises(ValueError, match="no rival 'x9'"):
        findings.render("{{TOY gain=1.3 | rival x9}}", doc)


@pytest.mark.parametrize("template, target", [("docs/readme-findings.in.md", "README.md"),
                                              ("docs/findings.in.md", "docs/findings.md"),
                                              ("docs/theory.in.md", "docs/theory.md")])
def test_the_prose_is_rendered_from_the_full_run(template, target):
    """Every Monte Carlo number the README's findings and docs/theory.md quote is read from
    docs/verify-full.json (python -m normtheory.verify.findings; see its docstring)."""
    doc = findings.load_run(ROOT / "docs" / "verify-full.json")
    rendered = findings.render((ROOT / template).read_text(), doc)
    text = (ROOT / target).read_text()
    expected = findings.into(text, rendered) if target == "README.md" else rendered
    assert text == expected, f"regenerate {target} from {template} (normtheory.verify.findings)"
    assert doc["mode"] == "full" and "{{" not in expected
