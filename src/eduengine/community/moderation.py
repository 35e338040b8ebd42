"""The sensitive-word filter (敏感词过滤): a school's word list, matched after folding the
usual evasions of Chinese and English text.

:func:`fold` turns a text into the letters and digits a reader sees: compatibility
forms (full-width ``ＱＱ``, circled ``①``) become plain ones, accents and case go,
traditional characters become simplified (OpenCC's table, pinned in
:mod:`eduengine.community.tables`), and spaces, punctuation, symbols and emoji put
between characters drop out. A :class:`WordFilter` folds each :class:`Word` the same
way, adds its pinyin initials (``代开发票`` is also ``dkfp``), and finds every entry in
one pass of an Aho-Corasick automaton (``pyahocorasick``), so a post costs the same
with ten words or ten thousand.

A Latin entry (English, or pinyin initials) matches only as whole words of the text
(``ass`` is not found in ``class``), though its letters may be spread out (``v i a g r a``);
a Chinese entry matches anywhere.

>>> words = WordFilter([Word("代开发票", action=WordAction.BLOCK),
...                     Word("加微信", action=WordAction.HOLD),
...                     Word("stupid", action=WordAction.MASK)])
>>> words.screen("代 開-發.票，便宜").action
<WordAction.BLOCK: 'block'>
>>> words.screen("DKFP 找我").words
('代开发票',)
>>> s = words.screen("You are ＳＴＵＰＩＤ!")
>>> s.action, s.masked
(<WordAction.MASK: 'mask'>, 'You are ******!')
>>> words.screen("This class is great").action is None
True
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import ahocorasick
import attrs

from eduengine.community.tables import INITIALS, INITIALS_START, SIMPLIFIED, TRADITIONAL
from eduengine.errors import InvalidInput, WrongType
from eduengine.kernel.records import reader, writer

__all__ = ["Folded", "Screening", "Word", "WordAction", "WordFilter", "fold", "initials_of"]

#: longest word a list may hold, in characters
MAX_WORD = 64

_TO_SIMPLIFIED = dict(zip(TRADITIONAL, SIMPLIFIED, strict=True))


class WordAction(enum.Enum):
    """What a matched word does to a post, weakest first: ``mask`` shows it with the
    word starred out, ``hold`` keeps it for a moderator, ``block`` never shows it."""

    MASK = "mask"
    HOLD = "hold"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {WordAction.MASK: 1, WordAction.HOLD: 2, WordAction.BLOCK: 3}


def _one(char: str) -> tuple[str, bool]:
    """What ``char`` folds to, and whether it is a separator (a dropped character that is
    not a combining mark)."""
    out: list[str] = []
    separator = False
    for part in unicodedata.normalize("NFKD", char):
        for low in part.casefold():
            kind = unicodedata.category(low)
            if kind[0] in "LN":
                out.append(_TO_SIMPLIFIED.get(low, low))
            elif kind[0] != "M":
                separator = True
    return "".join(out), separator and not out


# per character: folding is the hot path, and texts repeat their characters
_FOLDS: dict[str, tuple[str, bool]] = {}


@attrs.frozen
class Folded:
    """A folded text: ``text`` (letters and digits only), for each of its characters the
    index in the original it came from (``origin``) and whether a separator stood
    between it and the previous one (``gap``)."""

    text: str
    origin: tuple[int, ...]
    gap: tuple[bool, ...]

    def joined(self, k: int) -> bool:
        """Whether folded characters ``k - 1`` and ``k`` were side by side."""
        return 0 < k < len(self.text) and not self.gap[k]


def fold(text: str) -> Folded:
    """Fold ``text`` as the filter reads it.

    >>> fold("Ｖ.I.A－grà 發票").text
    'viagra发票'
    """
    if not isinstance(text, str):
        raise WrongType(f"text must be a string, got {text!r}", field="text")
    out: list[str] = []
    origin: list[int] = []
    gap: list[bool] = []
    pending = False
    folds = _FOLDS
    for i, char in enumerate(text):
        found = folds.get(char)
        if found is None:
            found = _one(char)
            if len(folds) < 100_000:
                folds[char] = found
        value, separator = found
        if not value:
            pending = pending or separator
            continue
        for piece in value:
            out.append(piece)
            origin.append(i)
            gap.append(pending)
            pending = False
    return Folded("".join(out), tuple(origin), tuple(gap))


def _latin(word: str) -> bool:
    return word.isascii() and word.isalnum()


def initials_of(word: str) -> str | None:
    """The pinyin initials of a folded Chinese word (the most common reading of each
    character), or ``None`` if one of its characters has none.

    >>> initials_of("法轮功")
    'flg'
    """
    letters = []
    for char in word:
        at = ord(char) - INITIALS_START
        letter = INITIALS[at] if 0 <= at < len(INITIALS) else "-"
        if letter == "-":
            return None
        letters.append(letter)
    return "".join(letters)


def _check_initials(value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.isascii() or not value.isalpha():
        raise InvalidInput(f"pinyin initials are letters a-z, got {value!r}")
    if not 2 <= len(value) <= MAX_WORD:
        raise InvalidInput(f"pinyin initials are 2 to {MAX_WORD} letters, got {value!r}")


def _check_text(instance: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, str):
        raise WrongType(f"a word is a string, got {value!r}", field="text")
    if not fold(value).text:
        raise InvalidInput(f"word {value!r} has no letter or digit to match")
    if len(value) > MAX_WORD:
        raise InvalidInput(f"word {value[:20]!r}... is longer than {MAX_WORD} characters")


def _check_action(instance: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, WordAction):
        raise WrongType(f"action must be a WordAction, got {value!r}", field="action")


@attrs.frozen
class Word:
    """One entry of a school's word list.

    ``initials`` are the pinyin initials a poster may type instead (``"dkfp"``); by
    default a Chinese word of three characters or more gets those of its most common
    reading, and ``initials=""`` turns them off (two letters match too many English
    words to be derived, so give them by hand if wanted).

    >>> Word("代开发票").patterns()
    ('代开发票', 'dkfp')
    >>> Word("银行卡号", initials="yhkh").patterns()
    ('银行卡号', 'yhkh')
    """

    text: str = attrs.field(validator=_check_text)
    action: WordAction = attrs.field(
        default=WordAction.BLOCK, validator=_check_action, kw_only=True
    )
    initials: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.initials != "":
            _check_initials(self.initials)

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> Word:
        return _word_in(doc)

    def to_record(self) -> dict[str, Any]:
        return _word_out(self)

    def patterns(self) -> tuple[str, ...]:
        """The folded forms this entry matches."""
        folded = fold(self.text).text
        found = [folded]
        if self.initials:
            found.append(self.initials.lower())
        elif self.initials is None and len(folded) >= 3 and not _latin(folded):
            derived = initials_of(folded)
            if derived is not None:
                found.append(derived)
        return tuple(dict.fromkeys(found))


_word_out = writer(Word)
_word_in = reader(Word)


@attrs.frozen
class Screening:
    """What the filter found in one text: the matched entries (``words``, by their text),
    the strongest ``action`` among them (``None``: nothing matched), and the text with
    the words of ``mask`` entries starred out (``masked``; a held post a moderator lets
    through is shown so, its ``hold`` words as written)."""

    action: WordAction | None
    words: tuple[str, ...]
    masked: str


class WordFilter:
    """A compiled word list: :meth:`screen` a text in one automaton pass.

    Build it once per list (building takes some milliseconds per thousand words);
    screening is thread-safe.
    """

    def __init__(self, words: Iterable[Word]) -> None:
        self.words: tuple[Word, ...] = tuple(words)
        for word in self.words:
            if not isinstance(word, Word):
                raise WrongType(f"expected a Word, got {word!r}", field="words")
        automaton = ahocorasick.Automaton()
        entries: dict[str, list[int]] = {}
        for n, word in enumerate(self.words):
            for pattern in word.patterns():
                entries.setdefault(pattern, []).append(n)
        for pattern, owners in entries.items():
            automaton.add_word(pattern, (len(pattern), _latin(pattern), tuple(owners)))
        self._empty = not entries
        if not self._empty:
            automaton.make_automaton()
        self._automaton = automaton

    def __len__(self) -> int:
        return len(self.words)

    def screen(self, text: str) -> Screening:
        """The words of this list found in ``text`` (see the module's examples)."""
        folded = fold(text)
        if self._empty or not folded.text:
            return Screening(None, (), text)
        hits: dict[int, None] = {}
        spans: list[tuple[int, int]] = []
        body = folded.text
        for end, (length, latin, owners) in self._automaton.iter(body):
            start = end - length + 1
            if latin and not self._whole(body, folded, start, end):
                continue
            for owner in owners:
                hits[owner] = None
            if any(self.words[owner].action is WordAction.MASK for owner in owners):
                spans.append((folded.origin[start], folded.origin[end]))
        if not hits:
            return Screening(None, (), text)
        found = [self.words[n] for n in sorted(hits)]
        action = max((w.action for w in found), key=lambda a: a.rank)
        return Screening(action, tuple(w.text for w in found), _mask(text, spans))

    @staticmethod
    def _whole(body: str, folded: Folded, start: int, end: int) -> bool:
        # a Latin entry must not continue a word of the text on either side
        before = folded.joined(start) and _latin(body[start - 1])
        after = folded.joined(end + 1) and _latin(body[end + 1])
        return not before and not after


def _mask(text: str, spans: Sequence[tuple[int, int]]) -> str:
    chars = list(text)
    for first, last in spans:
        for i in range(first, last + 1):
            if not chars[i].isspace():
                chars[i] = "*"
    return "".join(chars)
