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
    assert script.main([str(path), "--max_sentences", "64", "--max_tokens", "2048"]) == []


def test_report_lengths_names_the_file_of_bad_input(tmp_path):
    script = load_benchmark_script("report_lengths")
    bad = tmp_path / "reports.json"
    for content in ("{not json", "[1, 2]", '{"a": {"Technique_EN": "Helical CT."}}'):
        bad.write_text(content)
        with pytest.raises(SystemExit, match="reports.json"):
            script.main([str(bad)])
        assert bad.read_text() == content  # never written
