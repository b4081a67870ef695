"""The search key of the region's languages (node/textkey): one transliteration key for
Cyrillic and Latin script."""
from __future__ import annotations

import pytest

from node.textkey import fold, words


@pytest.mark.parametrize("cyrillic, latin", [
    ("Қазақстан шекарасы жабылды", "Qazaqstan şekarasy jabyldy"),  # Kazakh, the 2021 Latin alphabet
    ("Жаңалықтар", "Jañalyqtar"),
    ("Ўзбекистон чегараси ёпилди", "Oʻzbekiston chegarasi yopildi"),  # Uzbek, with the proper ʻ
    ("Ўзбекистон ерлари", "O'zbekiston yerlari"),  # Uzbek, typed with a plain apostrophe
    ("Ғалаба", "G‘alaba"),
    ("Азәрбајҹан гәзети хәбәр верир", "Azərbaycan qəzeti xəbər verir"),  # Azerbaijani: г is Latin q there
    ("маъно", "maʼno"),
])
def test_the_same_words_in_cyrillic_and_latin_have_one_key(cyrillic, latin):
    assert fold(cyrillic) == fold(latin)
    assert fold(cyrillic).isascii()


def test_fold_is_lower_case_plain_letters_without_punctuation():
    assert fold("«Граница» закрыта!!! — ТАСС, 2026") == "granitsa zakrita tass 2026"
    assert words("TÜRKİYE’NİN sınırları") == ["turkiienin", "sinirlari"]
    assert fold("t.me/kanal_uz") == "t me kanal uz"
    assert fold("  ,,, ") == "" and words("") == []


def test_informal_spellings_fold_with_the_official_ones():
    assert fold("Zhanaozen") == fold("Жаңаөзен")  # zh for ж, n for ң
    assert fold("Kazakhstan") == fold("Казахстан")  # kh for х
    assert fold("Aktobe") == fold("Ақтөбе")  # k for қ


def test_kazakh_and_russian_cyrillic_keep_g_where_azerbaijani_cyrillic_has_q():
    assert fold("Қарағанды") == "karagandi"
    assert fold("гәзет вә ҹәмијјәт") == fold("qəzet və cəmiyyət")


def test_other_scripts_pass_through_lower_cased():
    assert fold("Ελλάδα 東京") == "ελλαδα 東京"
