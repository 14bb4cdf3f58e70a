"""Text forms for matching what people type: no diacritics, lower case, plain spaces.

`fold` is the plain matching form. `words` goes further, the way a health worker reads a
chat message: polite particles dropped ("dạ có ạ" is "có"), chat shorthand spelled out
("ko", "k", "kh", "hok" are "không"; "dc", "đc" are "được"; "r" is "rồi") and Telex
leftovers repaired ("khoong" is "không", "cos" is "có"). Each word keeps what was typed,
because some words differ only by their diacritics ("tám" eight, "tầm" about).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

_SPACES = re.compile(r"\s+")
# Characters that change how text around them is shown without being seen themselves:
# bidirectional embeddings, overrides and isolates, zero-width spaces and joiners, the
# byte-order mark. A name holding U+202E shows reversed on a button or a card.
INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Emoji, symbols and punctuation that carry no meaning in an answer.
_NOISE = re.compile(r"[^\w\s/.,:+\-]", re.UNICODE)


def strip_diacritics(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def fold(text: str) -> str:
    """'  Đồng Ý 👍 ' -> 'dong y'. Used only for matching, never shown."""
    text = strip_diacritics(unicodedata.normalize("NFKC", text)).lower()
    text = _NOISE.sub(" ", text)
    return _SPACES.sub(" ", text).strip(" .,!?:-")


def visible(text: str) -> str:
    """Text without the invisible characters above: for registry values on import and
    wherever registry text is shown, and for typed answers (clean)."""
    return INVISIBLE.sub("", text)


def clean(text: str, limit: int = 200) -> str:
    """A free-text answer as it will be stored: NFC, single spaces, bounded length."""
    text = unicodedata.normalize("NFC", visible(text))
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c == " ")
    return _SPACES.sub(" ", text).strip()[:limit]


# ---------------------------------------------------------------- words of an answer


@dataclass(frozen=True, slots=True)
class Word:
    typed: str  # lower case, NFC, as typed ("tám")
    form: str  # the matching form ("tam"), shorthand spelled out

    @property
    def plain(self) -> bool:
        """Typed without any diacritics (so "tam" may be "tám" or "tầm")."""
        return self.typed == strip_diacritics(self.typed)


# Chat shorthand, by folded word. Not "kg" (kilograms) and not "m" (metres).
SHORTHAND = {
    "ko": "khong", "k": "khong", "kh": "khong", "khg": "khong", "hok": "khong", "hong": "khong",
    "hk": "khong", "khum": "khong", "kp": "khong phai",
    "dc": "duoc", "dk": "duoc", "r": "roi", "rui": "roi", "ruj": "roi", "roai": "roi",
    "chx": "chua", "cx": "cung", "bt": "biet", "bik": "biet", "bit": "biet", "j": "gi", "gj": "gi",
    "z": "vay", "dz": "vay", "ok": "ok", "oke": "ok", "okie": "ok", "okay": "ok", "uk": "u",
    "uh": "u", "um": "u", "uhm": "u", "uhum": "u", "vg": "vang", "vag": "vang",
    "kb": "khong biet", "kbt": "khong biet", "ng": "nguoi", "cty": "cong ty", "tp": "thanh pho",
    "p": "phuong", "q": "quan",
}
# Words a reply opens or closes with out of politeness; they never change the answer.
_POLITE_OPEN = {"dạ", "vâng", "thưa"}
_POLITE_CLOSE = {"ạ", "nhé", "nhe", "nha", "nhá", "nhen", "nghen", "hả", "ah", "à", "nè", "ne", "ạh"}
# "da" typed without diacritics opens politely only before a yes/no word ("da co");
# otherwise it is "đã" (already): "da bo" is "đã bỏ".
_YES_NO = {"co", "khong", "vang", "chua", "roi", "dung", "u", "ok", "sai", "duoc", "thoi"}
# A closing "a" typed plainly is "ạ", except right after these ("nhóm máu A").
_NOT_BEFORE_A = {"mau", "nhom", "la", "group", "type", "a", "b", "o", "ab", "0", "loai"}

_PUNCT = re.compile(r"(?<![0-9])[.,;!?…]+|[.,;!?…]+(?![0-9])")
_SPLIT_NOISE = re.compile(r"[^\w\s/.,:+\-]", re.UNICODE)
_LETTER_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
_REPEATS = re.compile(r"([a-z])\1{2,}")  # "khongggg"
_TELEX_TONE = re.compile(r"(?<=[a-z])[sfrxj]$")
_TELEX_MARKS = (("dd", "d"), ("aa", "a"), ("ee", "e"), ("oo", "o"), ("aw", "a"), ("ow", "o"), ("uw", "u"))


@cache
def _known() -> frozenset[str]:
    """Words of the catalogs, folded: a Telex repair must land on one of them."""
    from locales import available, catalog  # noqa: PLC0415 - catalogs are data, not I/O

    found: set[str] = set(SHORTHAND.values()) | {"vang", "khong", "co", "roi", "dung", "chua", "biet", "huu"}
    for loc in available():
        for text in catalog(loc).values():
            found.update(re.findall(r"[a-z]+", fold(text)))
    return frozenset(found)


# Shorthand and misspellings typed with diacritics ("bít" for biết, Southern "hổng").
MARKED_SHORTHAND = {"đc": "duoc", "đk": "duoc", "bít": "biet", "hổng": "khong", "hông": "khong"}


def _repair(typed: str, form: str) -> str:
    """Shorthand spelled out; a Telex leftover repaired when the result is a known word.
    Only for words typed without diacritics ("hẻm" is an alley, not "hem", "không")."""
    if typed in MARKED_SHORTHAND:
        return MARKED_SHORTHAND[typed]
    if typed != form:
        return form
    form = _REPEATS.sub(r"\1", form)
    if form in SHORTHAND:
        return SHORTHAND[form]
    if not form.isalpha() or not form.isascii() or form in _known():
        return form
    fixed = _TELEX_TONE.sub("", form)
    for pair, one in _TELEX_MARKS:
        fixed = fixed.replace(pair, one)
    return fixed if fixed in _known() else form


def _drop_polite(ws: list[Word]) -> list[Word]:
    """Polite particles off both ends; an answer that is nothing but them stays as it is
    ("dạ" alone means yes)."""
    out = list(ws)
    while len(out) > 1:
        last, before = out[-1], out[-2]
        if last.typed in _POLITE_CLOSE and not (last.typed == "à" and before.form in _NOT_BEFORE_A):
            out.pop()
        elif last.typed == "a" and before.form not in _NOT_BEFORE_A:
            out.pop()
        else:
            break
    while len(out) > 1:
        first, nxt = out[0], out[1]
        if first.typed in _POLITE_OPEN or (first.typed == "da" and nxt.form.split(" ")[0] in _YES_NO):
            out.pop(0)
        elif first.typed == "vang" and nxt.form.split(" ")[0] in _YES_NO:
            out.pop(0)
        else:
            break
    return out


def words(text: str, limit: int = 300, polite: bool = True) -> list[Word]:
    """The words of an answer as a health worker reads them (see the module doc);
    `polite=False` keeps polite-looking words (a button's own text: "ở nhà")."""
    found = _words(text[:limit])
    return _drop_polite(list(found)) if polite else list(found)


@lru_cache(maxsize=512)  # one answer is read by several buttons and parsers in a step
def _words(text: str) -> tuple[Word, ...]:
    t = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", text)).lower()
    t = _PUNCT.sub(" ", _SPLIT_NOISE.sub(" ", t))
    t = _LETTER_HYPHEN.sub(" ", t)  # "Khơ-me", "vắc-xin"; "120-80" keeps its dash
    ws = []
    for typed in t.split():
        typed = typed.strip(":/") or typed  # never "-": "-5" is not 5
        form = strip_diacritics(typed)
        if form:
            ws.append(Word(typed, _repair(typed, form)))
    return tuple(ws)


def answer(text: str, limit: int = 300, polite: bool = True) -> str:
    """The matching form of a whole answer: 'Dạ, khoong có ạ!' -> 'khong co'."""
    return " ".join(w.form for w in words(text, limit, polite))


def form(text: str) -> str:
    """The matching form of a button's text or synonym (nothing taken for politeness)."""
    return answer(text, polite=False)


# ---------------------------------------------------------------- which button was meant

# Words that may stand around a button's text without changing which button it is
# ("tôi chọn Không có", "dạ đã về hưu rồi"). No negation is among them: "không" next
# to "Kinh" is not "Kinh". Nor words that are buttons somewhere ("con", "ông": relations).
AROUND = frozenset(
    "toi tui em minh cua thi la chon bam nut gi nao het ca roi da nhe oi vay "
    "day do nay hien tai bao gio luon duoc cung van dang muon xin thua ah i my it is the".split()
)


def pick(text: str, options, around: frozenset[str] = frozenset()):
    """The key of the one option whose form the answer is, or holds with only words of
    `AROUND | around` beside it. `options` are (key, folded forms) pairs, forms made with
    `answer`. None when no option or more than one is meant: "không có" holds "có", but
    only the longer "không có" counts; "có, đã bỏ" names two buttons and is asked again."""
    ws = [w for w in words(text) for w in _split(w)]
    said = [w.form for w in ws]
    if not said:
        return None
    whole = " ".join(said)
    for key, forms in options:
        if whole in forms:
            return key
    present = {w.form for w in ws} | {w.typed for w in ws}
    spans: list[tuple[int, int, object]] = []
    for key, forms in options:
        for form in forms:
            f = _tokens(form)
            if not f or not ({f[0]} if isinstance(f[0], str) else {f[0].form, f[0].typed}) & present:
                continue  # cheap: the form's first word is not in the answer
            n = len(f)
            spans += [(i, i + n, key) for i in range(len(said) - n + 1) if _same(ws[i : i + n], f)]
    kept = [s for s in spans if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]
    # A button form that is also an everyday word ("rồi" for yes, "ông" for grandfather)
    # counts only as the whole answer: in "bỏ thuốc rồi" it is the "rồi" of "already".
    kept = [s for s in kept if not (s[1] - s[0] == 1 and said[s[0]] in AROUND)]
    keys: list = []
    for _, _, k in kept:
        if all(k is not o and k != o for o in keys):
            keys.append(k)
    if len(keys) != 1:
        return None
    covered = {i for a, b, _ in kept for i in range(a, b)}
    allowed = AROUND | around
    if any(i not in covered and w not in allowed for i, w in enumerate(said)):
        return None
    return kept[0][2]


@cache
def _tokens(form) -> tuple:
    return tuple(form.split()) if isinstance(form, str) else form


@cache
def answers(forms: tuple[str, ...]) -> frozenset[str]:
    """`answer` of each of several forms (synonym lists), computed once."""
    return frozenset(form(f) for f in forms)


def _split(w: Word) -> list[Word]:
    """Shorthand that stands for two words ("kb": "khong biet") as two words."""
    if " " not in w.form:
        return [w]
    return [Word(part, part) for part in w.form.split(" ")]


def _same(said: list[Word], form) -> bool:
    """Words equal to a form: folded forms compare as folded; a form given as Words
    (`spelled`) also compares diacritics where both sides have them ("tây" is not "Tày")."""
    if isinstance(form[0], str):
        return [w.form for w in said] == list(form)
    return all(
        w.typed == o.typed or (w.plain or o.plain) and w.form == o.form for w, o in zip(said, form, strict=True)
    )


def spelled(text: str) -> tuple[Word, ...]:
    """A form for `pick` that keeps its diacritics (see `_same`); a name as written, so
    never read as shorthand or Telex ("Cor" is not "cỏ")."""
    return tuple(Word(w.typed, strip_diacritics(w.typed)) for w in words(text, polite=False))
