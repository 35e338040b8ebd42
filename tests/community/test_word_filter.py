"""The word filter catches the usual evasions of a listed word and lets innocent text
through: two tables, in Chinese and English, and the invariants behind them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eduengine.community import Word, WordAction, WordFilter, fold
from eduengine.community.moderation import initials_of
from eduengine.community.spam import contact_handles, text_digest
from eduengine.community.tables import (
    INITIALS,
    OPENCC_VERSION,
    PYPINYIN_VERSION,
    SIMPLIFIED,
    TRADITIONAL,
)
from eduengine.errors import InvalidInput, WrongType

WORDS = WordFilter(
    [
        Word("代开发票", action=WordAction.BLOCK),
        Word("法轮功", action=WordAction.BLOCK),
        Word("刷单返利", action=WordAction.BLOCK),
        Word("加微信", action=WordAction.HOLD),
        Word("裸聊", action=WordAction.BLOCK, initials="lliao"),
        Word("傻逼", action=WordAction.MASK, initials="sb"),
        Word("笨蛋", action=WordAction.MASK),
        Word("viagra", action=WordAction.BLOCK),
        Word("casino", action=WordAction.HOLD),
        Word("ass", action=WordAction.MASK),
        Word("idiot", action=WordAction.MASK),
    ]
)

#: (text, the entry that must be found)
EVASIONS = [
    ("代开发票", "代开发票"),
    ("代 开 发 票", "代开发票"),
    ("代-开-发-票，价格优惠", "代开发票"),
    ("代.開.發.票", "代开发票"),  # traditional characters
    ("代開發票", "代开发票"),
    ("代🔥开🔥发🔥票", "代开发票"),  # emoji between characters
    ("代\u200b开\u200b发\u200b票", "代开发票"),  # zero-width spaces
    ("代｜开｜发｜票", "代开发票"),  # full-width bar
    ("DKFP 私聊", "代开发票"),  # pinyin initials
    ("需要 d.k.f.p 的找我", "代开发票"),
    ("ｄｋｆｐ", "代开发票"),  # full-width letters
    ("我要dkfp", "代开发票"),  # initials right after Chinese text
    ("法 轮 功", "法轮功"),
    ("法輪功", "法轮功"),  # traditional
    ("f l g", "法轮功"),
    ("刷 单 返 利，日赚三百", "刷单返利"),
    ("刷單返利", "刷单返利"),
    ("想认识的加 微 信", "加微信"),
    ("加微★信", "加微信"),  # a symbol between characters
    ("有人裸聊吗", "裸聊"),
    ("lliao 吗", "裸聊"),  # explicit initials
    ("你是个傻 逼", "傻逼"),
    ("SB", "傻逼"),
    ("你这个笨—蛋", "笨蛋"),
    ("buy viagra now", "viagra"),
    ("Buy V.I.A.G.R.A now", "viagra"),
    ("v i a g r a", "viagra"),
    ("ＶＩＡＧＲＡ", "viagra"),  # full-width
    ("VïAGRA", "viagra"),  # an accent
    ("Best online CASINO!!!", "casino"),
    ("c-a-s-i-n-o bonus", "casino"),
    ("what an a.s.s", "ass"),
    ("you IDIOT", "idiot"),
    ("买viagra", "viagra"),  # Latin word right after Chinese text
]

#: texts in which no entry may be found
INNOCENT = [
    "今天的课程非常有意思，老师讲得很清楚",
    "请大家按时提交作业，发票问题请联系教务",
    "开发新的功能需要时间",
    "代数和几何哪个更难？",
    "我们一起学习吧，加油！",
    "微信支付和支付宝都可以",
    "笨鸟先飞，继续努力",
    "This class is great, I passed the assessment",
    "Let's discuss the classic passage in class",
    "The casinos in the novel are symbols",  # a longer word holding the entry
    "He was an idiotic character? No, he was idiosyncratic",
    "Viagras? no: Niagara Falls trip photos",
    "assume, assess, embassy, bass, mass",
    "SBS news and the SBC standard",
    "DKFPX is not a word either",
    "Grammar points: v, i, a are vowels",
    "第3课的作业在第12页",
    "",
    "   ",
]


@pytest.mark.parametrize(("text", "entry"), EVASIONS)
def test_the_filter_catches_each_evasion(text: str, entry: str) -> None:
    screening = WORDS.screen(text)
    assert entry in screening.words, (text, screening)
    assert screening.action is not None


@pytest.mark.parametrize("text", INNOCENT)
def test_the_filter_lets_innocent_text_through(text: str) -> None:
    screening = WORDS.screen(text)
    assert screening.words == () and screening.action is None, (text, screening)
    assert screening.masked == text


def test_the_strongest_action_wins_and_mask_stars_out_every_match() -> None:
    assert WORDS.screen("笨蛋，加微信").action is WordAction.HOLD
    assert WORDS.screen("笨蛋，加微信，代开发票").action is WordAction.BLOCK
    assert WORDS.screen("你这个笨-蛋和傻逼").masked == "你这个***和**"
    assert WORDS.screen("you idiot, you ass!").masked == "you *****, you ***!"


def test_a_word_list_checks_its_entries() -> None:
    with pytest.raises(InvalidInput):
        Word("!!!")
    with pytest.raises(WrongType):
        Word("ok", action="block")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Word("代开发票", initials="d k")
    with pytest.raises(WrongType):
        WordFilter(["代开发票"])  # type: ignore[list-item]


def test_short_chinese_words_get_no_derived_initials_and_initials_can_be_turned_off() -> None:
    assert Word("笨蛋").patterns() == ("笨蛋",)
    assert Word("代开发票", initials="").patterns() == ("代开发票",)
    assert WordFilter([Word("代开发票", initials="")]).screen("dkfp").action is None


def test_the_pinned_tables_are_the_generated_ones() -> None:
    assert (OPENCC_VERSION, PYPINYIN_VERSION) == ("0.1.7", "0.55.0")
    assert len(TRADITIONAL) == len(SIMPLIFIED) > 4000
    assert len(INITIALS) == 0x9FFF - 0x4E00 + 1
    assert fold("發票機構與學習").text == "发票机构与学习"
    assert initials_of("代开发票") == "dkfp"


def test_contact_handles_are_found_through_the_same_folding() -> None:
    assert contact_handles("加我ＶＸ：study_abc123") == ("wechat",)
    assert contact_handles("微 信 号 abc_12345") == ("wechat",)
    assert contact_handles("扣扣 1234 5678") == ("qq",)
    assert contact_handles("138-1234-5678") == ("phone",)
    assert contact_handles("see https://spam.example/x") == ("link",)
    assert contact_handles("访问 abc点com") == ("link",)
    assert contact_handles("作业在第 138 页，共 12 题") == ()
    assert contact_handles("The lesson is at 18:30 on 2026-03-02") == ()


# --- invariants ------------------------------------------------------------------------

chinese = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=6
)
separators = st.text(alphabet=" -_.,，。·|/*~!！🔥\u200b", min_size=0, max_size=3)


@given(word=chinese, seps=st.lists(separators, min_size=6, max_size=6))
def test_separators_between_the_characters_of_a_listed_word_never_hide_it(
    word: str, seps: list[str]
) -> None:
    written = "".join(c + s for c, s in zip(word, seps, strict=False))
    found = WordFilter([Word(word, initials="")]).screen(f"前文{written}后文")
    assert found.action is WordAction.BLOCK


@given(text=st.text(max_size=60))
def test_folding_is_idempotent_and_keeps_only_letters_and_digits(text: str) -> None:
    once = fold(text).text
    assert fold(once).text == once
    assert all(c.isalnum() for c in once)
    assert text_digest(text) == text_digest(once)


@given(text=st.text(max_size=60))
def test_masking_keeps_the_length_and_touches_only_matched_spans(text: str) -> None:
    screening = WORDS.screen(text)
    assert len(screening.masked) == len(text)
    if screening.action is None:
        assert screening.masked == text
