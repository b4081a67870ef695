"""The search key of the region's languages (node/textkey): one transliteration key for
Cyrillic and Latin script."""
from __future__ import annotations

import pytest

from node.textkey import fold, is_language_word, query_words, search_keys, words
from node.textkey.stem import turkic_stems


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
    assert fold("«Граница» закрыта!!! — ТАСС, 2026") == "granisa zakrita tass 2026"
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


# --- word forms: search_keys (what the index holds) and query_words (what a query may match)

def finds(query: str, text: str) -> bool:
    """QueryWord's contract, as the index's FTS5 query applies it: every query word has a
    prefix that begins one of the text's keys or a stem equal to one of them."""
    keys = set(search_keys(text).split())
    return all(any(k.startswith(p) for k in keys for p in word.prefixes) or not keys.isdisjoint(word.stems)
               for word in query_words(query))


@pytest.mark.parametrize("query, text", [
    ("граница", "Граница закрыта"),
    ("граница", "Закрытие границы"),  # the example: граница finds границы
    ("границы", "Граница закрыта"),
    ("границами", "на границе"),
    ("выборы", "после выборов"),
    ("вакцина", "запретил вакцины для детей"),
])
def test_russian_word_forms_find_each_other(query, text):
    assert finds(query, text)


@pytest.mark.parametrize("query, text", [
    ("sınır", "sınırlarımızdan geçtiler"),
    ("sınırlar", "Sınırda bekleyiş"),
    ("seçim", "Seçimlerde hile iddiası"),
    ("seçimde", "seçimlerde"),
    ("deprem", "depremde ölenler"),
    ("depremler", "depremde"),
    ("ekmek", "Ekmeğe zam"),
    ("Türkiye", "Türkiye'nin anlaşması"),
])
def test_turkish_word_forms_find_each_other(query, text):
    assert finds(query, text)


@pytest.mark.parametrize("query, text", [
    # Kazakh: Cyrillic query, Latin text (2021 alphabet) and back, in other forms
    ("шекара", "Qazaqstan şekarasy jabylady"),
    ("шекараларымызда", "Qazaqstan şekarasy jabylady"),
    ("şekarada", "Қазақстан мен Қытай шекарасы"),
    ("ақпараттар", "degen aqparat ötırık"),
    # Uzbek: the official Latin with ʻ, a plain apostrophe, and Cyrillic
    ("чегаралар", "Oʻzbekiston chegarasi yopiladi"),
    ("yolg'on", "хабар ёлғон"),
    ("Ўзбекистонда", "O'zbekiston va Qirgʻiziston"),
    # Azerbaijani: Latin and the Cyrillic alphabet (г is q, ҝ is g, ҹ is c, ј is y)
    ("Азәрбајҹан", "Azərbaycanın sərhədləri"),
    ("sərhəd", "Азәрбајҹанын сәрһәдләри"),
    ("qıtlıq", "Бакыда су гытлығы олаҹаг"),
    ("ушаглар", "Peyvənd uşaqlarda xəstəlik yaradır"),
    # Kyrgyz: Cyrillic, rounded-vowel endings
    ("божомол", "божомолдор негизсиз"),
    ("маалыматтар", "деген маалымат жалган"),
    ("Бишкекке", "Бишкекте суу булганган"),
])
def test_turkic_word_forms_find_each_other_in_either_script(query, text):
    assert finds(query, text)


@pytest.mark.parametrize("query, text", [
    ("шекер", "Қазақстан шекарасы"),  # sugar, not border
    ("граната", "Граница закрыта"),
    ("реформатор", "о пенсионной реформе"),  # -тор is no Kyrgyz plural after -а-
    ("border", "Qishloqda suv bor"),  # an English word is not bor + -der
    ("граница вакцина", "Граница закрыта"),  # every word must match
    ("чегирма", "Oʻzbekiston chegarasi"),
    ("xəstəxana", "Peyvənd uşaqlarda xəstəlik yaradır"),
])
def test_other_words_do_not_match(query, text):
    assert not finds(query, text)


def test_a_query_word_matches_the_beginning_of_a_word_in_either_script():
    assert finds("гран", "Граница закрыта") and finds("шекар", "Qazaqstan şekarasy")
    assert finds("Zhanaoz", "Жаңаөзенде наразылық")


def test_search_keys_hold_each_key_once_and_stems_after_the_word():
    # a Kazakh text (қ): the Turkic stems only; a Russian-looking one has Snowball's too
    assert search_keys("Шекара, шекара, шекарасы, құбыр!") == "shekara shekar shekarasi kubir"
    assert search_keys("Шекарасы") == "shekarasi shekara shekaras"
    assert search_keys("2026 KZ-2026-0042") == "2026 kz 0042"


def test_turkic_endings_come_off_in_their_order_and_each_step_is_kept():
    assert turkic_stems("shekaralarimizda") == ["shekaralarimiz", "shekaralar", "shekara"]  # case, possessive, plural
    assert turkic_stems("bojomoldor") == ["bojomol"]  # Kyrgyz -дор after a rounded vowel
    assert turkic_stems("reformator") == []  # not after -a-
    assert turkic_stems("kitligi") == ["kitlik"]  # az qıtlığı: the stem's voiced g is k
    assert turkic_stems("bala") == []  # a one-letter ending leaves four letters at least
    assert turkic_stems("matter", min_stem=4) == [] and turkic_stems("2026") == []


def test_a_short_query_reads_g_both_ways_unless_its_letters_tell_the_alphabet():
    assert query_words("гадын")[0].prefixes == ("gadin", "kadin")  # Russian-like or Azerbaijani Cyrillic
    assert query_words("ҝәнҹ")[0].prefixes == ("genc",)  # ҹ: Azerbaijani
    assert query_words("қарағанды")[0].prefixes == ("karagandi",)  # қ: Kazakh


def test_ids_urls_and_one_letter_words_are_left_to_the_typed_search():
    assert is_language_word("«граница»,") and is_language_word("миш-миш") and is_language_word("o'zbek")
    assert not any(is_language_word(t) for t in ("t.me/alpha", "@beta_clips", "KZ-2026-0042", "2027", "x.com"))
    assert query_words("a") == [] and [w.prefixes for w in query_words("г ҳа")] == [("ha",)]
