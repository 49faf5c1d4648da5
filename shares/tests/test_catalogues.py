"""Every language's catalogues (locale/<lang>/LC_MESSAGES/django.po and djangojs.po) are
complete: every msgid translated, nothing fuzzy, the placeholders and markup of the
msgid kept, and as many plural forms as the language has, under its standard header."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils.translation import to_locale

LOCALE = Path(settings.BASE_DIR) / "locale"
DOMAINS = ("django", "djangojs")
LANGUAGES = [to_locale(code) for code, _name in settings.LANGUAGES]

# GNU gettext's (and CLDR's integer) plural rules, as each catalogue's header must say.
PLURAL_FORMS = {
    "en": "nplurals=2; plural=(n != 1);",
    "de": "nplurals=2; plural=(n != 1);",
    "fr": "nplurals=2; plural=(n > 1);",
    "es": "nplurals=2; plural=(n != 1);",
    "it": "nplurals=2; plural=(n != 1);",
    "pt_BR": "nplurals=2; plural=(n > 1);",
    "nl": "nplurals=2; plural=(n != 1);",
    "pl": (
        "nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
    ),
    "uk": (
        "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
        "(n%100<10 || n%100>=20) ? 1 : 2);"
    ),
    "tr": "nplurals=2; plural=(n != 1);",
    "ja": "nplurals=1; plural=0;",
    "ar": (
        "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
        "n%100>=11 ? 4 : 5);"
    ),
}

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")
MARKUP = re.compile(r"</?[a-z]+>")


def placeholders(text: str) -> set[str]:
    return {named or braced for named, braced in PLACEHOLDER.findall(text)}


def catalogue(language: str, domain: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / f"{domain}.po"))


def test_every_language_of_the_picker_has_a_plural_rule_here():
    assert set(LANGUAGES) == set(PLURAL_FORMS)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_is_complete_and_nothing_is_fuzzy(language, domain):
    po = catalogue(language, domain)
    assert not po.metadata_is_fuzzy
    assert po.metadata["Language"] == language
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    assert [e.msgid for e in po.obsolete_entries()] == []


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalogue_holds_exactly_the_english_msgids(language, domain):
    english = {(e.msgid, e.msgid_plural) for e in catalogue("en", domain)}
    assert {(e.msgid, e.msgid_plural) for e in catalogue(language, domain)} == english


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_plural_forms_are_the_languages_own(language, domain):
    po = catalogue(language, domain)
    assert po.metadata["Plural-Forms"] == PLURAL_FORMS[language]
    forms = int(re.search(r"nplurals=(\d)", PLURAL_FORMS[language])[1])
    for entry in po:
        if entry.msgid_plural:
            assert sorted(entry.msgstr_plural) == list(range(forms)), entry.msgid


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_placeholders_and_markup_of_each_msgid_are_kept(language, domain):
    for entry in catalogue(language, domain):
        if not entry.msgid_plural:
            assert placeholders(entry.msgstr) == placeholders(entry.msgid), entry.msgid
            assert sorted(MARKUP.findall(entry.msgstr)) == sorted(MARKUP.findall(entry.msgid))
            continue
        source = placeholders(entry.msgid) | placeholders(entry.msgid_plural)
        # A form may leave out the count ("one day", Arabic's "يومان" for two days), and
        # only the count: every other value must be in every form.
        counted = (placeholders(entry.msgid_plural) - placeholders(entry.msgid)) | {"count"}
        forms = list(entry.msgstr_plural.values())
        for form in forms:
            assert placeholders(form) <= source, (entry.msgid, form)
            assert source - counted <= placeholders(form), (entry.msgid, form)
        assert placeholders(entry.msgid_plural) <= set().union(*map(placeholders, forms))
