"""Text as citizens type it: normalisation, comparison keys and the GSM-friendly spelling.

Three functions for three jobs, never mixed up:

* :func:`normalise_input` cleans what a person typed *for storing and showing* (it stays readable);
* :func:`fold` makes a *comparison key* for keywords and menu words (never show it to anybody);
* :func:`digits_only` reads a number entry (PINFL, phone, menu number).

:func:`gsm_spelling` goes the other way: it respells our own outgoing text so that an SMS or a USSD
screen fits the GSM 7-bit alphabet where the language allows it (see ``core.gsm``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = [
    "APOSTROPHES",
    "OKINA",
    "TUTUQ",
    "digits_only",
    "fold",
    "gsm_spelling",
    "normalise_input",
    "tidy_sentences",
]

#: U+02BB MODIFIER LETTER TURNED COMMA, the mark of Uzbek oʻ and gʻ.
OKINA: Final = "\u02bb"
#: U+02BC MODIFIER LETTER APOSTROPHE, the Uzbek *tutuq* (maʼlumot, sanʼat).
TUTUQ: Final = "\u02bc"

#: Everything people type where Uzbek wants ʻ or ʼ: ASCII apostrophe and grave, the typographic
#: quotes phones substitute, the spacing acute, primes, and both modifier letters themselves.
APOSTROPHES: Final = frozenset("'`\u2018\u2019\u02bc\u02bb\u00b4\u2032\u02b9\u02bd")

_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Drop what no person typed and no database stores: control characters (NUL from a broken
    handset or a fuzzer; PostgreSQL refuses it in text) and lone surrogates. Newlines and tabs stay."""
    return "".join(
        ch for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )


def normalise_input(text: str) -> str:
    """Clean typed text: NFC, one kind of each apostrophe, single spaces, no edge spaces.

    An apostrophe-like character directly after a letter becomes ʻ (U+02BB) when that letter is
    o or g (``o'g'il`` → ``oʻgʻil``) and ʼ (U+02BC) otherwise (``ma'lumot`` → ``maʼlumot``); a
    second one right after such an ʻ is the tutuq (``mo''tadil`` → ``moʻʼtadil``). Apostrophes that
    do not follow a letter are quotation marks and are left alone.
    """
    text = unicodedata.normalize("NFC", clean_text(text))
    out: list[str] = []
    for ch in text:
        if ch in APOSTROPHES and out:
            prev = out[-1]
            if prev in "oOgG":
                out.append(OKINA)
                continue
            if prev == OKINA or prev.isalpha():
                out.append(TUTUQ)
                continue
        out.append(ch)
    return _WHITESPACE.sub(" ", "".join(out)).strip()


# --- fold ----------------------------------------------------------------------------------------

# The comparison key writes every "letter + mark" the apostrophe way with ASCII ', so the
# Karakalpak 2016 letters, their older apostrophe spellings and the Uzbek oʻ gʻ all meet:
#   á, a' → a'    ó, o', oʻ → o'    ú, u' → u'    ı, í, i' → i'    ń, n' → n'    ǵ, g', gʻ → g'
# and the tutuq ʼ → '. Karakalpak Í (capital of ı) and ı are not a Unicode case pair, so Í is
# mapped by hand (casefold would give í, which we also read as ı).
_MARKED_LETTERS: Final = {
    "á": "a'", "ó": "o'", "ú": "u'", "ı": "i'", "í": "i'", "ń": "n'", "ǵ": "g'",
    OKINA: "'", TUTUQ: "'",
}

# Uzbek Cyrillic → Latin (the 1995 official correspondence), extended so that Russian words and
# Karakalpak Cyrillic letters get a key too. ў is read the Uzbek way (oʻ); in Karakalpak Cyrillic
# it is w, but Karakalpak citizens write Latin, and a key only has to be consistent.
_CYRILLIC_TO_LATIN: Final = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "j", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "x", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh",
    "ъ": "'", "ы": "i'", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    "ў": "o'", "қ": "q", "ғ": "g'", "ҳ": "h",
    "ә": "a'", "ө": "o'", "ү": "u'", "ң": "n'", "і": "i",
}
# Uzbek Cyrillic е is "ye" at the start of a word and after a vowel, ъ or ь (ер → yer, оила).
_CYRILLIC_VOWELS: Final = frozenset("аеёиоуэюяўәөүыъь")

# Letters that look the same in both scripts, by case (lower-case н, т, м, в do not look Latin).
_CYR_LOOKS_LATIN: Final = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "І": "I",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
}
_LATIN_LOOKS_CYR: Final = {v: k for k, v in _CYR_LOOKS_LATIN.items()}

# Inside a number, people (and autocorrect) put the letter O for a zero: only there is it read 0.
_ZERO_LOOKALIKES: Final = frozenset("OoОо")


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    if "\u0400" <= ch <= "\u04ff":
        return "cyrl"
    if ch.isascii() or "\u00c0" <= ch <= "\u024f" or ch in (OKINA, TUTUQ):
        return "latn"
    return None


def _unmix(word: str) -> str:
    """Map look-alike letters of a mixed-script word to the script the word is written in.

    The script is the one that has letters without a look-alike (Л, Ш, h, l …); when both or
    neither have such letters, the one with more letters wins, Latin on a tie.
    """
    scripts = [_script(ch) for ch in word]
    if "cyrl" not in scripts or "latn" not in scripts:
        return word
    sure = {"cyrl": 0, "latn": 0}
    count = {"cyrl": 0, "latn": 0}
    for ch, sc in zip(word, scripts, strict=True):
        if sc is None:
            continue
        count[sc] += 1
        if ch not in _CYR_LOOKS_LATIN and ch not in _LATIN_LOOKS_CYR:
            sure[sc] += 1
    if bool(sure["cyrl"]) != bool(sure["latn"]):
        target = "cyrl" if sure["cyrl"] else "latn"
    else:
        target = "cyrl" if count["cyrl"] > count["latn"] else "latn"
    table = _LATIN_LOOKS_CYR if target == "cyrl" else _CYR_LOOKS_LATIN
    return "".join(table.get(ch, ch) for ch in word)


def _transliterate(word: str) -> str:
    out: list[str] = []
    prev = ""
    for ch in word:
        if ch == "е" and (not prev or prev in _CYRILLIC_VOWELS):
            out.append("ye")
        else:
            out.append(_CYRILLIC_TO_LATIN.get(ch, ch))
        prev = ch
    return "".join(out)


def _fold_word(word: str) -> str:
    if any(ch.isdigit() for ch in word) and all(ch.isdigit() or ch in _ZERO_LOOKALIKES for ch in word):
        return "".join("0" if ch in _ZERO_LOOKALIKES else ch for ch in word)
    word = _unmix(word).replace("Í", "ı").casefold()
    word = "".join(_MARKED_LETTERS.get(ch, ch) for ch in _transliterate(word))
    # An apostrophe counts only as part of a letter; a stray one (after a digit, or a Cyrillic ъ
    # opening a word) is dropped, so that fold(fold(x)) == fold(x).
    out: list[str] = []
    for ch in word:
        if ch == "'" and not (out and (out[-1].isalpha() or out[-1] == "'")):
            continue
        out.append(ch)
    return "".join(out)


def fold(text: str) -> str:
    """Comparison key for keywords and menu words: compare ``fold(typed) == fold(keyword)``.

    It normalises the input, drops punctuation and symbols, case-folds (Karakalpak Í/ı by hand),
    writes oʻ gʻ and the Karakalpak letters in one apostrophe form (``ó``, ``o'``, ``oʻ`` → ``o'``),
    maps look-alike letters of mixed-script words to the word's script (Latin H and Cyrillic О in
    ``HОLAT``), transliterates Cyrillic to Latin (``ҲОЛАТ`` → ``holat``, ``СТАТУС`` → ``status``)
    and reads the letter O as 0 inside numbers (``1О`` → ``10``).

    Limits: Uzbek Cyrillic х is x and ҳ is h, so ``ХОЛАТ`` (typed without an ҳ key) folds to
    ``xolat``; list such spellings as extra keywords. The key is not meant to be read.
    """
    text = normalise_input(text)
    kept = "".join(
        ch if ch in (OKINA, TUTUQ) or not unicodedata.category(ch).startswith(("P", "S")) else " "
        for ch in text
    )
    return " ".join(key for key in map(_fold_word, kept.split()) if key)


# --- digits --------------------------------------------------------------------------------------

# What people put between digits of a phone number or a PINFL: spaces, dashes, brackets, dots, +.
_NUMBER_SEPARATORS: Final = frozenset(" \u00a0\u202f\u2009-\u2010\u2011\u2012\u2013\u2014()./+")


def digits_only(text: str) -> str | None:
    """The ASCII digits of a number entry, or ``None`` when the text is not just a number.

    Any Unicode decimal digit counts (fullwidth ``１２``, Arabic-Indic …). Spaces, dashes, dots,
    brackets and ``+`` are separators and are dropped. The letter O (Latin or Cyrillic, either case)
    is read as 0, but only here, where everything else is digits and separators; no other letter is
    guessed (З for 3, l for 1 would turn a typo into a wrong PINFL), so any other letter gives None.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text.strip()):
        if ch in _NUMBER_SEPARATORS:
            continue
        if ch in _ZERO_LOOKALIKES:
            out.append("0")
            continue
        value = unicodedata.decimal(ch, None)
        if value is None:
            return None
        out.append(str(value))
    return "".join(out) or None


# --- GSM spelling --------------------------------------------------------------------------------

# Typographic characters of our own texts that GSM 03.38 lacks, with their plain stand-ins.
_TYPOGRAPHY: Final = str.maketrans({
    "\u2013": "-", "\u2014": "-", "\u2011": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2026": "...",
})
_UZBEK_GSM: Final = str.maketrans({OKINA: "'", TUTUQ: "'"})
# The apostrophe spelling of the Karakalpak 2016 letters, as older texts and SMS write them.
_KARAKALPAK_GSM: Final = str.maketrans({
    "á": "a'", "ǵ": "g'", "ı": "i'", "ń": "n'", "ó": "o'", "ú": "u'",
    "Á": "A'", "Ǵ": "G'", "Í": "I'", "Ń": "N'", "Ó": "O'", "Ú": "U'",
    OKINA: "'", TUTUQ: "'",
})


def gsm_spelling(text: str, locale: str) -> str:
    """Respell our text for SMS and USSD so that Latin-script languages stay in GSM 7-bit.

    ``uz``: ʻ and ʼ become ``'`` (``oʻ`` → ``o'``); ``kaa``: á ǵ ı ń ó ú (and capitals) take their
    apostrophe form (``a'`` ``g'`` ``i'`` ``n'`` ``o'`` ``u'``); both also lose typographic dashes,
    quotes and no-break spaces. ``ru`` is Cyrillic, travels as UCS-2 anyway, and is left unchanged.
    """
    if locale == "uz":
        return unicodedata.normalize("NFC", text).translate(_UZBEK_GSM).translate(_TYPOGRAPHY)
    if locale == "kaa":
        return unicodedata.normalize("NFC", text).translate(_KARAKALPAK_GSM).translate(_TYPOGRAPHY)
    return text


# A sentence that ends in an abbreviation already has its full stop: "… 8 декабря 2026 г." + "."
_DOUBLED_STOP: Final = re.compile(r"(?<=[^.\s])\.\.(?!\.)")


def tidy_sentences(text: str) -> str:
    """Fix what filling placeholders into whole sentences leaves: a doubled full stop after an
    abbreviation (``2026 г..``), and doubled spaces. An ellipsis (``...``) is left alone."""
    return re.sub(r"(?<=\S)  +(?=\S)", " ", _DOUBLED_STOP.sub(".", text))
