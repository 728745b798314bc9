"""Masking of personal data (rules.privacy): what is masked, what is left alone, and what a
purged decision keeps for replay."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.model import Rule, Ticket
from rules.privacy import is_id_number, kept_keywords, luhn_valid, mask_text, mask_value
from rules.service import ticket_from_request

MASKED = [
    # mobile numbers, with prefixes and separators
    ("13812345678", "138****5678"),
    ("电话13812345678，请回电", "电话138****5678，请回电"),
    ("138 1234 5678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("+86 13812345678", "+86 138****5678"),
    ("+8613812345678", "+86138****5678"),
    ("86-13912345678", "86-139****5678"),
    ("0086 15012345678", "0086 150****5678"),
    ("（+86）18612345678", "（+86）186****5678"),
    ("手机：１３８１２３４５６７８", "手机：138****5678"),
    # landlines with an area code
    ("010-12345678", "010-****5678"),
    ("0755 1234 5678", "0755 ****5678"),
    ("(010)62345678", "(010)****5678"),
    ("（0755）-2345678", "（0755）-***5678"),
    ("02162345678", "021****5678"),
    # a bare local number after a phone word
    ("座机：62345678", "座机：****5678"),
    ("联系电话 6234 5678", "联系电话 ****5678"),
    ("回电号码是2345678", "回电号码是***5678"),
    # 身份证号: checksum valid, with X, lower-case x, old 15-digit form, grouped
    ("110105199003071239", "110105********1239"),
    ("身份证11010519491231002X。", "身份证110105********002X。"),
    ("11010519491231002x", "110105********002X"),
    ("110105491231002", "110105*****1002"),
    ("110105 19900307 1239", "110105********1239"),
    # ... and any ID shape after an ID word, checksum or not
    ("身份证号：110105199003071230", "身份证号：110105********1230"),
    ("证件号码为 110105199013071231", "证件号码为 110105********1231"),
    # bank cards: Luhn valid, grouped, 19 digits; any 16–19 digits after a card word
    ("6222021234567894", "6222********7894"),
    ("6222 0212 3456 7894", "6222********7894"),
    ("6217000010012345677", "6217***********5677"),
    ("卡号6222021234567890", "卡号6222********7890"),
    ("银行账号：6217 0000 1001 2345 678", "银行账号：6217***********5678"),
    ("订单号20261126123，银行卡6222021234567894", "订单号20261126123，银行卡6222********7894"),
    # several in one text
    ("张先生13812345678，身份证110105199003071239，卡6222021234567894",
     "张先生138****5678，身份证110105********1239，卡6222********7894"),
]

UNCHANGED = [
    # dates and times
    "2026-11-26", "2026年11月26日", "20261126", "2026/11/26 10:00", "2026-11-26T10:00:00+08:00",
    "09:00-18:00", "2026-11-26 10:00—2026-11-27 18:30",
    # order numbers (in an order context even when Luhn-valid), express and serial numbers
    "订单号6222021234567894", "订单编号 2026112612345677", "快递单号SF1234567890123",
    "流水号：202611261234567890123",
    # amounts
    "金额12345.67元", "共计1,234,567.00元", "赔偿2345678元", "欠费 13800 元",
    # ids and codes of quanze and the hotline
    "T20261126-0001", "工单T20261126-0001", "dec_0123456789abcdef0000000000000001",
    "DSP-20261126-ab12cd34", "rlg_5f2c0011223344556677",
    "110199001001", "11019900100101", "110199", "030101",
    # document numbers, addresses, hotlines
    "国办函〔2025〕66号", "示政办裁〔2026〕3号", "第12项", "3号楼2单元1201室", "拨打12345、95598",
    # shapes that are not personal data without a context word
    "12345678901", "110105199003071230", "2026112612345678", "62345678",
    # numbers joined to letters on either side
    "ABC13812345678", "13812345678abc", "ID110105199003071239",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_personal_numbers_are_masked_keeping_their_ends(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", UNCHANGED)
def test_dates_amounts_ids_and_codes_are_left_alone(text: str) -> None:
    assert mask_text(text) == text
    assert mask_text(text) is text


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_masking_masked_text_changes_nothing(text: str, expected: str) -> None:
    assert mask_text(expected) == expected


def test_the_id_checksum_and_the_luhn_check_are_the_published_ones() -> None:
    # GB 11643: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, check "10X98765432"
    assert [is_id_number(f"11010519900307123{c}") for c in "0123456789X"] == [
        c == "9" for c in "0123456789X"]
    assert not is_id_number("110105199002301239")  # 30 February
    assert not is_id_number("990105199003071239".replace("1239", "123X"))  # no province 99
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


_ALPHABET = st.sampled_from(list("0123456789 -+()（）Xx电话身份证卡号订单T元年，"))


@given(st.text(_ALPHABET, max_size=60))
def test_masking_is_idempotent_and_keeps_everything_but_numbers(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once
    # only numbers change: digits become * (full-width ones and x are normalised) and the
    # separators inside a masked number go
    numbers = r"[0-9０-９*Xx \-－]"
    assert re.sub(numbers, "", once) == re.sub(numbers, "", text)


def test_a_masked_text_holds_no_mobile_number() -> None:
    text = "，".join(f"13{i}1234567{i}" for i in range(3, 10))
    assert not re.search(r"1[3-9]\d{9}", mask_text(text))


def test_mask_value_masks_strings_inside_json_and_keeps_keys_and_other_values() -> None:
    value = {"13812345678": "电话13812345678", "n": [7, None, True, "卡号6222021234567890"],
             "ok": "T20261126-0001"}
    assert mask_value(value) == {"13812345678": "电话138****5678",
                                 "n": [7, None, True, "卡号6222********7890"],
                                 "ok": "T20261126-0001"}
    unchanged = {"a": ["b", 1]}
    assert mask_value(unchanged) is unchanged


def test_a_purged_request_replays_with_the_keywords_it_kept() -> None:
    kept = kept_keywords('楼下有人"私搭"乱建', ["私搭", "违建", "乱建", ""])
    assert kept == ["乱建", "私搭"]
    request = {"category": "030101", "text": "", "text_removed": True, "kept_keywords": kept,
               "keywords_version": 3}
    ticket = ticket_from_request(request, datetime(2026, 11, 26, tzinfo=UTC))
    rule = Rule(id="R", category="0301", lead="X", basis="b", text_any=("私搭",))
    other = Rule(id="S", category="0301", lead="X", basis="b", text_any=("违建",))
    from rules.conditions import has_keyword

    assert has_keyword(rule, ticket.text) and not has_keyword(other, ticket.text)
    # two kept keywords never join into a third one
    assert not has_keyword(Rule(id="T", category="0301", lead="X", basis="b",
                                text_any=("建私",)), ticket.text)


def test_a_request_with_its_text_keeps_it() -> None:
    ticket = ticket_from_request({"category": "030101", "text": "私搭"},
                                 datetime(2026, 11, 26, tzinfo=UTC))
    assert ticket == Ticket(category="030101", as_of=datetime(2026, 11, 26, tzinfo=UTC),
                            text="私搭")
