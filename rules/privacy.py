"""Masking of a citizen's personal data (个人信息) before anything is stored.

北京市接诉即办工作条例: 诉求人的个人隐私、个人信息依法受到保护 (domain.md §5a). Routing reads a
ticket's raw text in memory (keyword rules need it); what quanze stores — decision requests,
ticket events, dispute statements, rulings, audit entries — holds the text as
:func:`mask_text` leaves it. Masking keeps enough to be useful to a clerk:

>>> mask_text("张先生，电话13812345678，身份证110105199003071239，请尽快处理")
'张先生，电话138****5678，身份证110105********1239，请尽快处理'
>>> mask_text("座机010-62345678或0755 1234 5678，卡号6222 0212 3456 7894")
'座机010-****5678或0755 ****5678，卡号6222********7894'

What is masked (numbers may be written with ASCII or full-width digits):

- **mobile numbers**: ``1[3-9]`` and nine more digits, alone or grouped 3-4-4 by spaces or
  dashes, with an optional ``+86`` / ``86`` / ``0086`` prefix (kept): ``138****5678``;
- **landlines** with an area code (``010``, ``02x``, or four digits from ``03xx`` on): seven or
  eight digits, optionally grouped: ``010-****5678``; a bare seven- or eight-digit number
  only right after a phone word (电话, 座机, 联系方式 …);
- **身份证号**: 18 digits (the last may be ``X``) with a valid province, birth date and
  checksum (GB 11643), or the old 15-digit form with a valid province and birth date; any
  15- or 18-character ID shape right after an ID word (身份证, 证件号 …), checksum or not:
  ``110105********123X``;
- **bank cards**: 16–19 digits, alone or in groups of four, that pass the Luhn check, or any
  such number right after a card word (银行卡, 卡号, 账号 …): ``6222********7894``. After an
  order word (订单, 单号, 流水号 …) a Luhn-valid number is left alone unless a card word
  precedes it.

What is not: a number joined to letters, digits or ``_`` on either side (so ids such as
``T20261126-0001`` or ``dec_…`` and codes inside words stay whole), dates, times, amounts,
area codes (``110199001001``, 12 digits) and anything of another length. Masking is
idempotent: masked text has no run of digits that could be masked again.

>>> mask_text("工单T20261126-0001，2026-11-26 10:00，金额12345.67元，区域110199001001")
'工单T20261126-0001，2026-11-26 10:00，金额12345.67元，区域110199001001'

Names, addresses and free descriptions of a person cannot be found reliably by pattern: the
retention setting removes a decision's whole text after a while (see
:mod:`arbitration.retention`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rules.model import plain_text

__all__ = [
    "is_id_number", "kept_keywords", "luhn_valid", "mask_text", "mask_value",
]

_D = "[0-9\uff10-\uff19]"  # ASCII and full-width digits
_X = "[0-9\uff10-\uff19Xx\uff38\uff58]"  # an ID number's last character
_S = "[-\uff0d \u3000]"  # one separator: dash or space, half or full width
_JOINED = "0-9\uff10-\uff19A-Za-z_"  # what a number must not touch on either side


def _digit(ascii_range: str) -> str:
    """A class of ASCII digits and their full-width forms: ``_digit("3-9")``."""
    low, _, high = ascii_range.partition("-")
    wide = chr(ord(low) + 0xFEE0) + (f"-{chr(ord(high) + 0xFEE0)}" if high else "")
    return f"[{ascii_range}{wide}]"


_0, _1, _2, _6, _8 = (_digit(d) for d in "01268")
_MOBILE = rf"{_1}{_digit('3-9')}{_D}{_S}?{_D}{{4}}{_S}?{_D}{{4}}"
_AREA_CODE = rf"{_0}(?:{_1}{_0}|{_2}{_D}|{_digit('3-9')}{_D}{{2}})"  # 010, 02x, 0xxx
_LOCAL = rf"{_digit('1-9')}{_D}{{2,3}}{_S}?{_D}{{4}}"
#: after a number's first character: the character before it is not a digit, letter or _
_FREE = rf"(?<![{_JOINED}].)"


def _alternatives() -> list[str]:
    """The pattern's alternatives, each beginning with one literal character: so the regex
    engine can skip to the characters a number may start with (a pattern that begins with
    a lookbehind or a class is tried at every position, ~0.3 µs each; measured)."""
    found: list[tuple[str, str, str]] = []  # (kind, first character, the rest)
    rest = _MOBILE.removeprefix(_1)
    found += [("mobile", c, rest) for c in "1１"]
    found += [("mobile", "+", rf"{_8}{_6}{_S}?{_MOBILE}")]
    found += [("mobile", c, rf"{_0}{_8}{_6}{_S}?{_MOBILE}") for c in "0０"]
    found += [("mobile", c, rf"{_6}{_S}?{_MOBILE}") for c in "8８"]
    found += [("mobile", c, rf"\+?{_8}{_6}[)）]{_S}?{_MOBILE}") for c in "(（"]
    found += [("landline", c, rf"{_AREA_CODE.removeprefix(_0)}{_S}?{_LOCAL}") for c in "0０"]
    found += [("landline", c, rf"{_AREA_CODE}[)）]{_S}?{_LOCAL}") for c in "(（"]
    for c in "0123456789０１２３４５６７８９":
        numbers = [
            rf"{_D}{{5}}{_S}{_D}{{8}}{_S}{_D}{{3}}{_X}",  # an ID number grouped 6-8-4
            rf"{_D}{{14,18}}", rf"{_D}{{16}}{_X}",  # 15–19 digits; 18 ending in X
            rf"{_D}{{3}}(?:{_S}{_D}{{4}}){{2,3}}(?:{_S}{_D}{{1,3}})?",  # groups of four
        ]
        if c not in "01０１":  # seven or eight digits: a local number (after a phone word)
            numbers.append(rf"{_D}{{2,3}}{_S}?{_D}{{4}}")
        found.append(("number", c, "(?:" + "|".join(numbers) + ")"))
    # the group names the kind; the first character stays outside it, where the engine sees
    # it as the alternative's first literal
    return [f"{re.escape(first)}(?P<{kind}_{i}>{_FREE}{rest})"
            for i, (kind, first, rest) in enumerate(found)]


_PATTERN = re.compile("(?:" + "|".join(_alternatives()) + rf")(?![{_JOINED}])")
_AREA_PART = re.compile(rf"[(（]?{_AREA_CODE}[)）]?{_S}?")
_MOBILE_AT_END = re.compile(rf"{_MOBILE}$")

#: a run of seven or more digits, single separators allowed: where anything maskable is
_CANDIDATE = re.compile(rf"{_D}(?:{_S}?{_D}){{6,}}{_X}?")
_SEPARATOR = re.compile(_S)
#: how far back (characters) a context word is looked for
_LOOKBACK = 16
_TAIL = r"(?:号码|号)?\s*(?:是|为|：|:)?\s*(?:是|为)?\s*$"
_PHONE_WORDS = re.compile(r"(?:电话|手机|座机|固话|联系方式|联系号码|来电|回电|致电|tel|phone)"
                          + _TAIL, re.IGNORECASE)
_ID_WORDS = re.compile(r"(?:身份证|证件|公民身份|身份号)" + _TAIL)
_CARD_WORDS = re.compile(r"(?:银行卡|储蓄卡|信用卡|借记卡|银行账户|卡|账户|帐户|账号|帐号)"
                         + _TAIL)
_ORDER_WORDS = re.compile(r"(?:订单|单号|编号|流水|快递|运单|工单|票号|批次|合同)" + _TAIL)

#: GB/T 2260 province-level codes (the first two digits of an ID number)
_PROVINCES = frozenset(str(code) for code in (
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50,
    51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91))
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_DIGITS = str.maketrans("０１２３４５６７８９Ｘｘx", "0123456789XXX")
#: b"0"…b"9" to the Luhn value of the doubled digit (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _normal(number: str) -> str:
    """ASCII digits, no separators, ``X`` upper case."""
    if number.isascii() and number.isdigit():
        return number
    return _SEPARATOR.sub("", number).translate(_DIGITS)


def _is_date(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= _DAYS[month - 1] and (
        month != 2 or day <= 28 or (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)))


def _has_id_shape(number: str) -> bool:
    """15 or 18 characters with a known province and a real birth date."""
    if not number.isascii() or number[:2] not in _PROVINCES:
        return False
    if len(number) == 18:
        return number[:17].isdigit() and 1800 <= int(number[6:10]) <= 2099 and _is_date(
            int(number[6:10]), int(number[10:12]), int(number[12:14]))
    return (len(number) == 15 and number.isdigit()
            and _is_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12])))


def is_id_number(number: str) -> bool:
    """Is ``number`` a citizen ID number (居民身份证号码): 18 characters with a known province,
    a real birth date and the ISO 7064 MOD 11-2 check character, or the old 15-digit form with
    a known province and birth date?

    >>> is_id_number("11010519491231002X"), is_id_number("110105194912310021")
    (True, False)
    >>> is_id_number("110105491231002"), is_id_number("110105491331002")
    (True, False)
    """
    number = _normal(number)
    if not _has_id_shape(number):
        return False
    if len(number) == 15:
        return True
    # on the bytes: b"0" is 48, so each digit's weight is counted 48 times too many
    total = sum(map(operator.mul, number[:17].encode(), _WEIGHTS)) - 48 * sum(_WEIGHTS)
    return _CHECK[total % 11] == number[17]


def luhn_valid(number: str) -> bool:
    """The Luhn check that bank-card numbers (银行卡号) carry in their last digit.

    >>> luhn_valid("6222 0212 3456 7894"), luhn_valid("6222021234567890")
    (True, False)
    """
    digits = _normal(number)
    if not (digits.isascii() and digits.isdigit()):
        return False
    backwards = digits.encode()[::-1]
    kept, doubled = backwards[::2], backwards[1::2].translate(_LUHN_DOUBLED)
    return (sum(kept) - 48 * len(kept) + sum(doubled)) % 10 == 0


def _after(words: re.Pattern[str], text: str, start: int) -> bool:
    return words.search(text, max(0, start - _LOOKBACK), start) is not None


def _stars(number: str, head: int, tail: int) -> str:
    return number[:head] + "*" * (len(number) - head - tail) + number[len(number) - tail:]


def _mask(match: re.Match[str]) -> str:
    kind = (match.lastgroup or "").partition("_")[0]
    found = match.group(0)
    if kind == "mobile":
        mobile = _MOBILE_AT_END.search(found)
        assert mobile is not None
        return found[:mobile.start()] + _stars(_normal(mobile.group(0)), 3, 4)
    if kind == "landline":
        area = _AREA_PART.match(found)
        assert area is not None
        return area.group(0) + _stars(_normal(found[area.end():]), 0, 4)
    text, start = match.string, match.start()
    number = _normal(found)
    if len(number) in (7, 8):
        return _stars(number, 0, 4) if _after(_PHONE_WORDS, text, start) else found
    if len(number) in (15, 18) and (is_id_number(number) or _after(_ID_WORDS, text, start)):
        return _stars(number, 6, 4)
    if 16 <= len(number) <= 19 and number.isdigit() and (
            _after(_CARD_WORDS, text, start)
            or (luhn_valid(number) and not _after(_ORDER_WORDS, text, start))):
        return _stars(number, 4, 4)
    return found


def mask_text(text: str) -> str:
    """``text`` with every phone, ID and bank-card number masked (see the module's doc); the
    same string object when there is nothing to mask.

    >>> mask_text("请联系+86 138-1234-5678，身份证号：110105491231002")
    '请联系+86 138****5678，身份证号：110105*****1002'
    >>> mask_text("订单号6222021234567894，卡号6222021234567890")
    '订单号6222021234567894，卡号6222********7890'
    >>> t = "无个人信息"; mask_text(t) is t
    True
    """
    # Most texts have no run of seven digits; a plain pattern says so in well under 1 µs.
    if _CANDIDATE.search(text) is None:
        return text
    masked, count = _PATTERN.subn(_mask, text)
    return masked if count and masked != text else text


def mask_value(value: Any) -> Any:
    """A JSON-like value with :func:`mask_text` applied to every string in it (keys stay);
    the same object when nothing changed.

    >>> mask_value({"note": "回电13812345678", "n": [1, "0755-12345678"]})
    {'note': '回电138****5678', 'n': [1, '0755-****5678']}
    """
    kind = type(value)
    if kind is str or (kind not in _ATOMS and isinstance(value, str)):
        return mask_text(value)
    if kind is dict or (kind not in _ATOMS and isinstance(value, Mapping)):
        # Copied only when an item changed, and plain strings without a run of seven digits
        # are passed over here: the audit entries of a city import (one per rule) called
        # this on half a million strings, nearly all of them left as they were.
        changed: dict[Any, Any] | None = None
        for k, v in value.items():
            if type(v) in _ATOMS or (type(v) is str and _CANDIDATE.search(v) is None):
                continue
            m = mask_value(v)
            if m is not v:
                if changed is None:
                    changed = dict(value)
                changed[k] = m
        return value if changed is None else changed
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        items: list[Any] | None = None
        for i, v in enumerate(value):
            if type(v) in _ATOMS or (type(v) is str and _CANDIDATE.search(v) is None):
                continue
            m = mask_value(v)
            if m is not v:
                if items is None:
                    items = list(value)
                items[i] = m
        if items is None:
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


#: types that hold no text (mask_value passes them over)
_ATOMS = frozenset({int, float, bool, type(None)})


def kept_keywords(text: str, keywords: Iterable[str]) -> list[str]:
    """The keywords that ``text`` contains, sorted: what a decision keeps of its text when the
    text is removed, so that keyword rules replay the same (keywords are the matrix's words,
    not the citizen's).

    >>> kept_keywords("楼下有人私搭乱建", ["违建", "私搭", "乱建"])
    ['乱建', '私搭']
    """
    plain = plain_text(text)
    return sorted({word for word in keywords if word and word in plain})
