"""text/sentences.py on chest-CT prose (invented sentences in the style of real reports): no word is lost or altered,
a finding stays in one sentence with its place ("nodule? in the left lung", "1.5 mm", "series 2 image 134"), and
a "?" that ends a sentence still ends it."""
import re

import pytest

from helpers import load_benchmark_script
from nnunetv2_tmca.text.sentences import split_sentences

TOKEN = re.compile(r"\w+|[^\w\s]")
FINDINGS = (
    "When examined in the lung parenchyma window; a 1.5 mm nodule is seen in the posterobasal segment of the lower "
    "lobe of the left lung (series 2 image 134). No mass or infiltrative lesion was detected in both lungs. "
    "A subpleural nodule? in the lingula, adjacent to the major fissure. Linear atelectasis (sequela?) in the right "
    "lung middle lobe medial segment. Is there a cyst? The lesion measures 12x9 mm in the apical segment of the upper "
    "lobe of the right lung. \u00b7 Millimetric nodules in both lungs. \u00b7 No pleural effusion. ... ?? "
    "Hiatal hernia. Mediastinal structures cannot be evaluated optimally in the non-contrast examination.")
IMPRESSION = ("1. Nodule in the inferior lingular segment of the left lung upper lobe (granuloma?). 2. Atelectasis? "
              "in the right lower lobe. 3. Hepatosteatosis?")
REPORT = f"{FINDINGS}\n\n{IMPRESSION}"


def _words(text):
    return [t for t in TOKEN.findall(text) if re.search(r"\w", t)]


def test_no_word_is_lost_or_altered_on_a_ct_style_report():
    sentences = split_sentences(REPORT)
    assert _words(" ".join(sentences)) == _words(REPORT)
    # only the letter-free piece "... ??" between two sentences is dropped
    assert len(TOKEN.findall(" ".join(sentences))) == len(TOKEN.findall(REPORT)) - 5
    script = load_benchmark_script("report_lengths")
    assert not script.split_loses_words(REPORT, sentences)


@pytest.mark.parametrize("text,expected", [
    ("A 4 mm nodule? in the left lung lower lobe.", ["A 4 mm nodule? in the left lung lower lobe."]),
    ("Atelectasis?? in the lingula. No effusion.", ["Atelectasis?? in the lingula.", "No effusion."]),
    ("Stent material in the superior vena cava? operating material? is monitored.",
     ["Stent material in the superior vena cava? operating material? is monitored."]),
    ("Is this a cyst? The lesion is in the right lung.", ["Is this a cyst?", "The lesion is in the right lung."]),
    ("Granuloma? 2 nodules in the right lung.", ["Granuloma?", "2 nodules in the right lung."]),  # a digit starts one
    ("A 1.5 mm nodule in series 2 image 134 of the lingula.",
     ["A 1.5 mm nodule in series 2 image 134 of the lingula."]),
    ("A nodule in series No. 3 image 45 of the left lung.", ["A nodule in series No. 3 image 45 of the left lung."]),
    ("Nodule (cyst?) in the apical segment of the right upper lobe.",
     ["Nodule (cyst?) in the apical segment of the right upper lobe."]),
    ("When examined in the lung parenchyma window; nodules in both lungs.",
     ["When examined in the lung parenchyma window; nodules in both lungs."]),
    ("Nodule?\n\nin the left lung.", ["Nodule?", "in the left lung."]),  # never joined across paragraphs
])
def test_a_finding_stays_with_its_place(text, expected):
    assert split_sentences(text) == expected


def test_split_loses_words_detects_a_loss():
    script = load_benchmark_script("report_lengths")
    text = "Nodule? in the left lung. ... No effusion."
    assert not script.split_loses_words(text, ["Nodule? in the left lung.", "No effusion."])
    assert not script.split_loses_words(text, ["Nodule?", "in the left lung.", "No effusion."])
    assert script.split_loses_words(text, ["Nodule in the left lung.", "No effusion."])  # the "?" inside lost
    assert script.split_loses_words(text, ["Nodule? in the left lung."])  # the last sentence lost
    assert script.split_loses_words(text, ["No effusion.", "Nodule? in the left lung."])  # reordered
    assert script.split_loses_words(text, ["Nodule? in the right lung.", "No effusion."])  # altered
