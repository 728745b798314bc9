"""The audit chain's fast hash for plain JSON values is the standard one, byte for byte."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from arbitration.audit import entry_hash, plain_entry_hash

#: every code point, surrogates included (orjson refuses those: the standard way is taken)
#: any text a request can carry: lone surrogates (\ud800) are refused at the boundary with a
#: 422 (JSON that escapes one is not valid UTF-8), so no entry ever holds one
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
               max_size=12)
PLAIN: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12)


@given(before=PLAIN, after=PLAIN, actor=TEXT, subject=TEXT, seq=st.integers(1, 2**40))
def test_the_plain_hash_is_the_entry_hash_for_plain_json_values(
        before: Any, after: Any, actor: str, subject: str, seq: int) -> None:
    args = ("ab" * 32, seq, "2026-11-30T08:00:00.000000", actor, "rule_change", subject,
            before, after)
    assert plain_entry_hash(*args) == entry_hash(*args)


def test_keys_beyond_the_basic_plane_sort_as_the_standard_encoder_sorts_them() -> None:
    value = {"\uffff": 1, "\U00010000": 2, "z": 3, "é": 4}
    args = ("0" * 64, 1, "t", "a", "x", "s", value, None)
    assert plain_entry_hash(*args) == entry_hash(*args)
