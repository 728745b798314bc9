"""Staff accounts from the command line: opened, refused, reset, disabled — in Chinese."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from api.cli import main
from api.db import make_engine
from api.staff import sign_in
from api.tables import staff_sessions
from jurisdiction.errors import Forbidden


def test_an_account_takes_its_password_from_standard_input(
        cli_db: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("qingshui2026\n"))
    assert main(["users", "create", "--login", "wangmin", "--name", "王敏",
                 "--role", "arbiter"]) == 0
    assert "已创建账号 wangmin（王敏，裁定员）" in capsys.readouterr().out
    engine = make_engine(cli_db)
    with engine.begin() as conn:
        staff, _ = sign_in(conn, "wangmin", "qingshui2026", now=datetime.now(UTC))
    engine.dispose()
    assert staff.name == "王敏"


@pytest.mark.parametrize(("args", "message"), [
    (["--login", "li", "--name", "李", "--role", "viewer", "--password", "short1"],
     "密码至少 10 位"),
    (["--login", "li", "--name", "李", "--role", "clerk", "--password", "qingshui2026"],
     "角色无效"),
    (["--login", "li", "--name", "李", "--role", "unit", "--password", "qingshui2026"],
     "须指定所属单位"),
    (["--login", "9li", "--name", "李", "--role", "viewer", "--password", "qingshui2026"],
     "用户名须为"),
])
def test_a_bad_account_is_refused_in_chinese_and_nothing_is_written(
        cli_db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["users", "create", *args]) == 1
    assert message in capsys.readouterr().err
    assert main(["users", "list", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_a_taken_login_is_refused(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["users", "create", "--login", "wangmin", "--name", "王敏", "--role", "arbiter",
            "--password", "qingshui2026"]
    assert main(args) == 0
    assert main(args) == 1
    assert "用户名「wangmin」已被占用" in capsys.readouterr().err


def test_disabling_an_account_ends_its_sessions_and_refuses_it(
        cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "create", "--login", "wangmin", "--name", "王敏", "--role", "arbiter",
                 "--password", "qingshui2026"]) == 0
    engine = make_engine(cli_db)
    with engine.begin() as conn:
        sign_in(conn, "wangmin", "qingshui2026", now=datetime.now(UTC))
    assert main(["users", "disable", "--login", "wangmin"]) == 0
    with engine.begin() as conn:
        ended = conn.execute(select(staff_sessions.c.ended_at)).scalars().all()
        assert ended and all(t is not None for t in ended)
        with pytest.raises(Forbidden) as refused:
            sign_in(conn, "wangmin", "qingshui2026", now=datetime.now(UTC))
    assert refused.value.code == "account_disabled"
    assert main(["users", "disable", "--login", "wangmin", "--enable"]) == 0
    assert main(["users", "reset", "--login", "wangmin", "--password", "xinmima2027"]) == 0
    assert "已重置" in capsys.readouterr().out
    with engine.begin() as conn:
        sign_in(conn, "wangmin", "xinmima2027", now=datetime.now(UTC))
    engine.dispose()
