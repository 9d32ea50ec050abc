"""benchmarks/report_lengths.py: the counts of reports over the report cap, on reports the test writes."""
import json

import pytest

from helpers import load_benchmark_script


def test_report_lengths_counts_reports_over_the_cap(tmp_path, capsys):
    script = load_benchmark_script("report_lengths")
    sentence = "A small nodule is seen in the apical segment of the upper lobe of the right lung."
    reports = {"short": {"Findings_EN": sentence, "Impressions_EN": "Nodule in the right upper lobe."},
               "long": {"Findings_EN": " ".join([sentence] * 40), "Impressions_EN": "No effusion."},
               "many": " ".join(f"Finding {i} is unchanged." for i in range(12)),
               "empty": {"Findings_EN": "  ", "Technique_EN": "Helical CT."}}
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(reports))
    over = script.main([str(path), "--max_sentences", "10", "--max_tokens", "512"])
    out = capsys.readouterr().out
    assert over == ["long", "many"]  # 41 units and > 512 tokens; 12 units > 10; "empty" has no listed section
    assert "3 reports" in out and "| over the unit cap | 2 |" in out and "| over the token cap | 1 |" in out
    assert sentence not in out and "unchanged" not in out  # counts and ids only, never report text
    assert "| loses or alters a word | 0 of 3 |" in out
    assert script.main([str(path), "--max_sentences", "64", "--max_tokens", "2048"]) == []


def test_report_lengths_names_the_file_of_bad_input(tmp_path):
    script = load_benchmark_script("report_lengths")
    bad = tmp_path / "reports.json"
    for content in ("{not json", "[1, 2]", '{"a": {"Technique_EN": "Helical CT."}}'):
        bad.write_text(content)
        with pytest.raises(SystemExit, match="reports.json"):
            script.main([str(bad)])
        assert bad.read_text() == content  # never written


def test_report_lengths_counts_reports_whose_split_loses_a_word(tmp_path, capsys, monkeypatch):
    script = load_benchmark_script("report_lengths")
    reports = {"kept": "A nodule? in the left lung. No effusion.", "lost": "A nodule in the lingula. No effusion."}
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(reports))
    split = script.split_sentences
    monkeypatch.setattr(script, "split_sentences", lambda text: split(text)[:1] if "lingula" in text else split(text))
    script.main([str(path), "--list"])
    out = capsys.readouterr().out
    assert "| loses or alters a word | 1 of 2 |" in out and "split loses a word: lost" in out
    assert "lingula" not in out and "nodule" not in out
