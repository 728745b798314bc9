"""The ``quanze`` command (contract.md, Commands)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from api import demo, zh
from api.db import make_engine, upgrade
from api.deps import utc_now
from api.settings import AppSettings
from jurisdiction.errors import BundleInvalid, InvalidInput, NotFound, QuanzeError


def _settings() -> AppSettings:
    return AppSettings()


@contextmanager
def _services() -> Iterator[Any]:
    """The app's services for one command, closed when it ends."""
    from api.deps import Services
    from rules.service import Router

    settings = _settings()
    db = make_engine(settings.database_url)
    router = Router(db, refresh_interval=0.0)
    try:
        upgrade(db)
        yield Services(db=db, router=router, settings=settings)
    finally:
        router.close()
        db.dispose()


class _Cli:
    """A caller for writes made from the shell."""

    def __init__(self) -> None:
        self.actor = f"cli:{os.environ.get('USER', 'admin')}"

    def require(self, *roles: str) -> None:
        return None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("须为正整数")
    return number


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    if args.workers > 1:
        from api.serve import ServeOptions, serve

        return serve(ServeOptions(host=args.host, port=args.port), args.workers)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.auth import create_key
    from api.routes.matrix import import_document

    with _services() as services:
        fresh = not services.router.current().rules
        if fresh:
            report = import_document(services, _Cli(), demo.district(), "merge",
                                     "demo district")
            print(f"已载入示范区：规则版本 {report['ruleset_version']}，"
                  f"{report['added']['rules']} 条规则，{report['added']['units']} 个单位")
        else:
            print("数据库中已有派单目录，按原样提供服务")
        with services.db.begin() as conn:
            key = create_key(conn, role="admin", name="demo", unit=None, now=utc_now())
            password = _demo_staff(conn) if fresh else None
    if fresh:
        counts = asyncio.run(_seed_history(key))
        print(f"已通过接口生成示例历史：{counts['tickets']} 张工单，"
              f"{counts['disputes']} 起争议，{counts['rulings']} 项裁定")
    url = f"http://{args.host}:{args.port}"
    print(f"quanze 示范区：{url}  （接口文档：{url}/docs）")
    if password is not None:
        from api.zh import ROLE as ROLE_NAMES

        print("工作台示范账号（密码相同，只显示这一次）：")
        for login, name, role, unit in demo.STAFF:
            print(f"  {login:<10} {name}（{ROLE_NAMES[role]}{'，' + unit if unit else ''}）")
        print(f"  密码：{password}")
    print(f"管理员密钥：{key}")
    sys.stdout.flush()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
    return 0


def _demo_staff(conn: Any) -> str:
    """The demo's staff accounts, with one password (``QUANZE_DEMO_PASSWORD``, else a new
    random one), which is returned to be printed once."""
    import secrets

    from api.staff import create_user

    password = os.environ.get("QUANZE_DEMO_PASSWORD") or f"qz{secrets.token_hex(5)}"
    for login, name, role, unit in demo.STAFF:
        create_user(conn, login=login, name=name, role=role, unit=unit, password=password,
                    now=utc_now(), actor=_Cli().actor)
    return password


async def _seed_history(key: str) -> dict[str, int]:
    from api.app import create_app
    from api.demo.history import seed

    app = create_app()
    async with app.router.lifespan_context(app):
        return await seed(app, key, now=utc_now())


def cmd_import(args: argparse.Namespace) -> int:
    from api.routes.matrix import import_document
    from rules.dutylist import read_duty_list

    path = Path(args.path)
    notes: list[str] = []
    with _services() as services:
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                print(f"错误：无法读取 {path}：{exc}", file=sys.stderr)
                return 2
        elif path.suffix.lower() in (".xlsx", ".csv"):
            j = services.router.current().jurisdiction
            known = {u.name: u.code for u in j.units.values()} | {c: c for c in j.units}
            data = read_duty_list(path, known_units=known, notes=notes,
                                  unit_kinds={u.code: u.kind.value for u in j.units.values()})
        else:
            print(f"错误：{path}：请使用 .json 数据包或 .xlsx/.csv 职责清单", file=sys.stderr)
            return 2
        report = import_document(services, _Cli(), data, args.mode, path.name,
                                 confirmed=args.confirm, dry_run=args.dry_run)
        _print_report(report)
        for note in notes:  # what the importer decided beyond the rows (部门事项 …)
            print(f"  {note}")
        return 0


def cmd_versions_list(args: argparse.Namespace) -> int:
    from rules.store import list_versions

    with _services() as services:
        services.router.current()
        status = services.router.status()
        with services.db.connect() as conn:
            versions = list_versions(conn, limit=args.limit)
    if args.json:
        print(json.dumps({**status, "versions": [
            {**v, "created_at": v["created_at"].isoformat()} for v in versions]},
            ensure_ascii=False, indent=1))
        return 0
    refused = status["unservable"]
    print(f"派单使用版本 {status['serving_version']}"
          + (f"；最新版本 {refused['version']} 无法加载（{refused['code']}）" if refused else ""))
    for v in versions:
        mark = ("使用中" if v["version"] == status["serving_version"]
                else "无法加载" if refused and v["version"] == refused["version"] else "")
        print(f"{v['version']:>6}  {_local(v['created_at'])}  {v['actor']:<20} "
              f"{mark:<6} {v['note']}")
    return 0


def cmd_versions_activate(args: argparse.Namespace) -> int:
    from rules import admin

    with _services() as services:
        _, report = admin.activate_version(services.db, services.router, args.version,
                                           actor=_Cli().actor, now=utc_now(),
                                           after=services.after_matrix_change)
    print(f"已按版本 {args.version} 的内容生成新版本 {report.version}，派单即刻使用")
    _print_report(report.as_dict())
    return 0


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


_KIND_NAMES = {"units": "单位", "areas": "区域", "categories": "事项分类", "rules": "规则",
               "settings": "设置"}


def _print_report(report: dict[str, Any]) -> None:
    if report.get("dry_run"):
        print(f"试运行：未写入任何内容。若执行，规则版本 {report['previous_version']} → "
              f"{report['ruleset_version']}")
    elif report["ruleset_version"] == report["previous_version"]:
        print(f"无变化（规则版本 {report['ruleset_version']}）")
    else:
        print(f"规则版本 {report['previous_version']} → {report['ruleset_version']}")
    for kind, name in _KIND_NAMES.items():
        print(f"  {name:<5} 新增 {report['added'][kind]:>5}  修改 {report['changed'][kind]:>5}  "
              f"停用 {report['retired'][kind]:>5}  未变 {report['unchanged'][kind]:>5}")
    print("  拒绝      0")


def cmd_export(args: argparse.Namespace) -> int:
    from rules.bundle import dump_bundle

    path = Path(args.path)
    with _services() as services:
        m = services.router.current()
        bundle = dump_bundle(m.jurisdiction, m.rules.values(), m.settings)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(bundle, ensure_ascii=False, indent=1), encoding="utf-8")
        elif path.suffix.lower() == ".xlsx":
            from rules.dutylist import write_duty_list

            write_duty_list(bundle, path)
        else:
            print(f"错误：{path}：只能导出为 .json 或 .xlsx", file=sys.stderr)
            return 2
        print(f"已将规则版本 {m.version}（{len(m.rules)} 条规则）写入 {path}")
        return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from arbitration.service import verify_in_service

    with _services() as services:
        report = verify_in_service(services.db, services.router, utc_now())
        if args.json:
            print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
        else:
            print(f"规则版本 {report.version}（rule-set version {report.version}）："
                  f"{report.cells} 个事项×乡镇格 {report.cells_by_status}")
            for f in report.findings:
                ids = f" [{', '.join(f.rule_ids)}]" if f.rule_ids else ""
                print(f"{f.severity:<7} {f.code:<22} {f.message}{ids}")
            print("统计：", json.dumps(report.counts(), ensure_ascii=False))
        return 1 if report.has_errors else 0


def cmd_route(args: argparse.Namespace) -> int:
    from rules.service import decision_document, new_decision_id, ticket_from_request

    attributes: dict[str, str] = {}
    for item in args.attr or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"错误：--attr {item!r}：请写成 名称=值", file=sys.stderr)
            return 2
        attributes[key] = value
    with _services() as services:
        request = {"category": args.category, "area": args.area, "attributes": attributes,
                   "text": args.text or "", "as_of": args.as_of}
        ticket = ticket_from_request(request, utc_now())
        matrix, decision = services.router.decide(ticket)
        doc = decision_document(decision, matrix, decision_id=new_decision_id(), ticket=ticket)
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from api.auth import expiry, issue_key

    with _services() as services:
        matrix = services.router.current()
        if args.unit and args.unit not in matrix.jurisdiction.units:
            print(f"错误：--unit {args.unit!r} 不是已知单位", file=sys.stderr)
            return 2
        now = utc_now()
        expires_at = expiry(until=args.expires, days=args.days, now=now,
                            tz=matrix.settings.timezone)
        with services.db.begin() as conn:
            doc, key = issue_key(conn, role=args.role, name=args.name or args.role,
                                 unit=args.unit, now=now, expires_at=expires_at,
                                 actor=_Cli().actor)
        print(f"已创建角色为 {args.role} 的密钥（编号 {doc['id']}"
              + (f"，有效期至 {doc['expires_at']}" if doc["expires_at"] else "")
              + "）；密钥只显示这一次：")
        print(key)
        return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from api.auth import list_keys

    with _services() as services, services.db.connect() as conn:
        keys = list_keys(conn)
    if args.json:
        print(json.dumps(keys, ensure_ascii=False, indent=1))
        return 0
    now = utc_now()
    for k in keys:
        expires = k["expires_at"] and datetime.fromisoformat(k["expires_at"])
        state = ("已吊销" if k["revoked"] else "已过期" if expires and expires <= now
                 else "有效")
        print(f"{k['id']}  {k['role']:<8} 单位 {k['unit'] or '-':<10} {state}  "
              f"创建于 {k['created_at']}  最近使用 {k['last_used_at'] or '从未使用'}  "
              f"到期 {k['expires_at'] or '不过期'}  {k['name']}")
    print(f"共 {len(keys)} 个密钥")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from api.auth import revoke_key

    with _services() as services, services.db.begin() as conn:
        doc = revoke_key(conn, args.id, actor=_Cli().actor, now=utc_now())
    print(f"密钥 {doc['id']}（{doc['name']}）已吊销，各服务器在 1 秒内拒绝它")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from api.auth import rotate_key

    with _services() as services, services.db.begin() as conn:
        doc, key = rotate_key(conn, args.id, actor=_Cli().actor, now=utc_now())
    print(f"密钥 {doc['id']}（{doc['name']}）已换新，旧密钥作废；新密钥只显示这一次：")
    print(key)
    return 0


def _password(args: argparse.Namespace) -> str:
    """--password, or one line from standard input (asked for on a terminal, not echoed)."""
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("密码：")
        if getpass.getpass("再次输入密码：") != first:
            raise InvalidInput("the two passwords differ", code="password_mismatch",
                               field="password")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users_create(args: argparse.Namespace) -> int:
    from api.staff import create_user
    from api.zh import ROLE as ROLE_NAMES

    with _services() as services:
        units = services.router.current().jurisdiction.units
        password = _password(args)
        with services.db.begin() as conn:
            doc = create_user(conn, login=args.login, name=args.name, role=args.role,
                              unit=args.unit, password=password, now=utc_now(),
                              actor=_Cli().actor, units=units)
    unit = f"，单位 {units[doc['unit']].name}（{doc['unit']}）" if doc["unit"] else ""
    print(f"已创建账号 {doc['login']}（{doc['name']}，{ROLE_NAMES[doc['role']]}{unit}）")
    return 0


def cmd_users_reset(args: argparse.Namespace) -> int:
    from api.staff import reset_password

    with _services() as services:
        password = _password(args)
        with services.db.begin() as conn:
            doc = reset_password(conn, args.login, password, now=utc_now(),
                                 actor=_Cli().actor)
    print(f"账号 {doc['login']}（{doc['name']}）的密码已重置，已解除锁定，原有登录会话已结束")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    from api.staff import set_disabled

    with _services() as services, services.db.begin() as conn:
        doc = set_disabled(conn, args.login, not args.enable, now=utc_now(),
                           actor=_Cli().actor)
    if args.enable:
        print(f"账号 {doc['login']}（{doc['name']}）已启用")
    else:
        print(f"账号 {doc['login']}（{doc['name']}）已停用，其登录会话已结束")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from api.staff import list_users
    from api.zh import ROLE as ROLE_NAMES

    with _services() as services, services.db.connect() as conn:
        users = list_users(conn)
    if args.json:
        print(json.dumps(users, ensure_ascii=False, indent=1))
        return 0
    now = utc_now()
    for u in users:
        locked = u["locked_until"] and datetime.fromisoformat(u["locked_until"]) > now
        state = "已停用" if u["disabled"] else "已锁定" if locked else "正常"
        print(f"{u['login']:<16} {u['name']:<8} {ROLE_NAMES[u['role']]:<6} "
              f"单位 {u['unit'] or '-':<10} {state}  最近登录 {u['last_login_at'] or '从未登录'}")
    print(f"共 {len(users)} 个账号")
    return 0


def _audit_key(args: argparse.Namespace, *, create: bool) -> tuple[Path, bytes]:
    from arbitration.audit import default_key_file, load_signing_key

    path = Path(args.key_file) if args.key_file else default_key_file()
    return path, load_signing_key(path, create=create)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from arbitration.audit import check_checkpoint, verify_log

    checkpoint = None
    if args.checkpoint:
        try:
            checkpoint = json.loads(Path(args.checkpoint).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"错误：无法读取检查点 {args.checkpoint}：{exc}", file=sys.stderr)
            return 2
        _, key = _audit_key(args, create=False)
    with _services() as services, services.db.connect() as conn:
        count, problems = verify_log(conn)
        behind = (check_checkpoint(conn, checkpoint, key) if checkpoint is not None
                  else [])
    for p in problems:
        print(f"entry {p.seq}: {p.problem}")
    for p in behind:
        print(f"检查点：{p.problem}")
    if problems:
        print(f"审计日志被破坏：{count} 条中有 {len(problems)} 处问题"
              f"（audit log BROKEN: {len(problems)} problem(s) in {count} entries）")
    if behind:
        print(f"审计日志不再延续检查点（第 {checkpoint['seq'] if checkpoint else 0} 条）："
              "日志被删减或改写")
    if problems or behind:
        return 1
    print(f"审计日志完整：共 {count} 条，哈希链已校验（audit log intact: {count} entries, "
          "hash chain verified）")
    if checkpoint is not None:
        print(f"审计日志延续检查点：第 {checkpoint['seq']} 条的哈希相符，签名有效"
              f"（检查点生成于 {checkpoint.get('made_at')}）")
    return 0


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from arbitration.audit import make_checkpoint

    path, key = _audit_key(args, create=True)
    with _services() as services, services.db.connect() as conn:
        checkpoint = make_checkpoint(conn, key=key, now=utc_now())
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(checkpoint, ensure_ascii=False, indent=1) + "\n",
                   encoding="utf-8")
    tmp.replace(out)
    print(f"已写入审计检查点 {out}：第 {checkpoint['seq']} 条，哈希 {checkpoint['hash'][:16]}…，"
          f"HMAC-SHA256 签名（密钥文件 {path}，密钥编号 {checkpoint['key_id']}）")
    print("请把检查点文件复制到服务器以外保存；密钥文件只给服务账号读取，并在数据库以外另存一份。")
    return 0


def cmd_privacy_purge(args: argparse.Namespace) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from arbitration.retention import purge_text, retention_cutoff

    settings = _settings()
    now = utc_now()
    with _services() as services:
        tz = ZoneInfo(services.router.current().settings.timezone)
        if args.before is not None:
            try:
                before = datetime.fromisoformat(args.before)
            except ValueError:
                print(f"错误：--before {args.before!r} 不是日期（例如 2026-06-01）",
                      file=sys.stderr)
                return 2
            if before.tzinfo is None:
                before = before.replace(tzinfo=tz)
            why = "按 --before 指定"
        else:
            cutoff = retention_cutoff(now, settings.text_retention_days)
            if cutoff is None:
                print("文本保留期未启用（QUANZE_TEXT_RETENTION_DAYS=0）：未清除任何文本。"
                      "可用 --before 日期 指定清除范围。")
                return 0
            before = cutoff
            why = f"保留期 {settings.text_retention_days} 天"
        report = purge_text(services.db, before=before, now=now, actor=_Cli().actor,
                            dry_run=args.dry_run)
    when = before.astimezone(tz).strftime("%Y年%m月%d日 %H:%M")
    print(f"清除 {when} 之前派单决定中的诉求文本（{why}）")
    verb = "将清除" if args.dry_run else "已清除"
    print(f"{verb}诉求文本：{report.texts_removed} 条决定"
          f"（共检查 {report.decisions} 条，其余本无文本）")
    print(f"为重放保留的关键词：{report.keywords_kept} 个（规则集版本 {report.keywords_version} "
          "及以前的全部关键词）")
    print("决定本身（规则、主办、协办、版本、说明）保留不变；审计日志不受影响。")
    if args.dry_run:
        print("试运行：未做任何修改。")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from api.graphs import render_view

    out = Path(args.out)
    fmt = out.suffix.lower().lstrip(".")
    with _services() as services:
        body, _ = render_view(services.router.current(), args.view, args.focus, fmt,
                              at=utc_now(), category=args.category, db=services.db,
                              start=args.start, end=args.end, unit_kind=args.unit_kind,
                              district=args.district)
    out.write_bytes(body)
    print(f"wrote the {args.view} view to {out} ({len(body)} bytes)")
    return 0


# -- policy (the district's process rules and working-day calendar) ------------------------

_SOURCES = {"district": "本区策略", "default": "默认策略", "builtin": "内置策略（天津规则）"}
_STAGES = {"open": "待认领", "under_review": "审理中"}
_INTERIM = {"first_receiver": "首接单位", "territorial_unit": "属地单位"}
_RANGE_SEPARATORS = ("..", "~", "～", "至")
#: The longest range a line of a dates file may give (the longest holiday is 8–9 days).
_MAX_RANGE_DAYS = 31


def _policy_district(services: Any, district: str | None) -> str | None:
    """The district (top area) whose policy ``--district AREA`` names; None for the default."""
    if district is None:
        return None
    j = services.router.current().jurisdiction
    if district not in j.areas:
        raise NotFound(f"unknown area {district!r}", code="area_not_found",
                       field="district", area_code=district)
    top: str = j.district_of(district)
    return top


def _district_name(services: Any, district: str | None) -> str:
    if district is None:
        return "默认策略（未单独设置策略的区）"
    area = services.router.current().jurisdiction.areas.get(district)
    return f"{area.name}（{district}）" if area is not None else district


def _number(value: float) -> str:
    return f"{value:g}"


def _print_policy(services: Any, found: dict[str, Any], now: Any) -> None:
    from arbitration.calendar import library_years, missing_years, to_local
    from arbitration.policy import Policy

    policy = Policy.from_dict(found["policy"])
    set_by = (f"，{found['set_at']} 由 {found['set_by']} 设置" if found["set_by"] else "")
    print(f"{_district_name(services, found['district'] if found['district'] != '*' else None)}"
          f"：修订 {found['revision']}（{_SOURCES.get(found['source'], found['source'])}"
          f"{set_by}）")
    print(f"  时区：{policy.tz}")
    windows = "，".join(f"{k} {_number(v)}" for k, v in policy.return_windows.items())
    print(f"  退单时限（工作日）：{windows}（默认 {policy.default_tier}）")
    sign_in = "，".join(
        f"{k} {_number(w.amount)}{'分钟' if w.unit == 'minutes' else '个工作日'}"
        for k, w in policy.sign_in_windows.items())
    print(f"  签收时限：{sign_in}（默认 {policy.default_urgency}）")
    stages = "，".join(f"{_STAGES.get(k, k)} {_number(v)}"
                      for k, v in policy.dispute_deadlines.items())
    print(f"  争议各阶段期限（工作日）：{stages}")
    print(f"  反复派单上限：{policy.bounce_cap} 次")
    print(f"  临时持有顺序：{' → '.join(_INTERIM.get(s, s) for s in policy.interim_order)}")
    first, last = library_years()
    cal = policy.calendar
    print(f"  工作日历：节假日库收录 {first}–{last} 年"
          + (f"；本策略补录 {'、'.join(str(y) for y in sorted(cal.years))} 年"
             if cal.years else "；本策略未补录年份"))
    years = sorted(cal.years | {d.year for d in cal.holidays | cal.working_days})
    for year in years:
        off = sum(1 for d in cal.holidays if d.year == year)
        on = sum(1 for d in cal.working_days if d.year == year)
        print(f"    {year} 年：放假 {off} 天，调休上班 {on} 天"
              + ("" if year in cal.years else "（只改这些日期，其余按节假日库）"))
    for year in missing_years(to_local(now, policy.tz).date(), cal):
        print(f"  提醒：{year} 年的节假日安排尚未录入，{year} 年的期限暂按周一至周五计算，"
              "标为临时期限。")


def cmd_policy_show(args: argparse.Namespace) -> int:
    from arbitration.service import get_policy

    with _services() as services:
        district = _policy_district(services, args.district)
        with services.db.connect() as conn:
            found = get_policy(conn, district)
        if args.json:
            print(json.dumps(found, ensure_ascii=False, indent=1))
        else:
            _print_policy(services, found, utc_now())
        return 0


def _save_policy(services: Any, district: str | None, data: dict[str, Any]) -> dict[str, Any]:
    from arbitration.service import put_policy

    with services.db.begin() as conn:
        return put_policy(conn, district, data, actor=_Cli().actor, now=utc_now(),
                          matrix=services.router.current())


def _policy_error(exc: QuanzeError) -> int:
    field = exc.context.get("field")
    where = f"，字段 {field}" if field else ""
    print(f"错误（{exc.code}{where}）：{zh.message(exc)}", file=sys.stderr)
    return 1


def cmd_policy_set(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        print(f"错误：无法读取 {path}：{exc}", file=sys.stderr)
        return 2
    if not isinstance(data, dict):
        print(f"错误：{path} 应是一个 JSON 对象（策略的各字段）", file=sys.stderr)
        return 2
    with _services() as services:
        try:
            district = _policy_district(services, args.district)
            saved = _save_policy(services, district, data)
        except QuanzeError as exc:
            return _policy_error(exc)
        print(f"已保存{_district_name(services, district)}的策略：修订 {saved['revision']}"
              f"（未写明的字段取内置值）")
        if saved["revised_deadlines"]:
            print(f"重新计算了 {saved['revised_deadlines']} 个争议的临时期限")
        return 0


def read_dates(path: Path, year: int) -> list[str]:
    """The dates of a clerk's file, one per line: ``2027-01-01``, or a range
    ``2027-02-06..2027-02-13`` (also ``~`` or ``至``); ``#`` starts a comment. Every date must
    lie in ``year``. Raises ``ValueError`` with a Chinese message naming the line."""
    from datetime import date, timedelta

    out: list[str] = []
    text = path.read_text(encoding="utf-8-sig")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        ends = [line]
        for sep in _RANGE_SEPARATORS:
            if sep in line:
                ends = [part.strip() for part in line.split(sep, 1)]
                break
        try:
            days = [date.fromisoformat(end) for end in ends if len(end) == 10]
        except ValueError:
            days = []
        if len(days) != len(ends):
            raise ValueError(f"{path.name} 第{number}行：“{line}”不是日期（应为 YYYY-MM-DD，"
                             "或 YYYY-MM-DD..YYYY-MM-DD 表示一段日期）")
        first, last = days[0], days[-1]
        if last < first or (last - first).days >= _MAX_RANGE_DAYS:
            raise ValueError(f"{path.name} 第{number}行：“{line}”不是一段有效的日期"
                             f"（结束不早于开始，最长 {_MAX_RANGE_DAYS} 天）")
        for d in (first, last):
            if d.year != year:
                raise ValueError(f"{path.name} 第{number}行：{d.isoformat()} 不在 {year} 年")
        while first <= last:
            out.append(first.isoformat())
            first += timedelta(days=1)
    return out


def cmd_policy_calendar(args: argparse.Namespace) -> int:
    from arbitration.policy import Policy, calendar_as_dict
    from arbitration.service import get_policy

    year: int = args.year
    try:
        holidays = read_dates(Path(args.holidays_file), year)
        working = (read_dates(Path(args.working_days_file), year)
                   if args.working_days_file else [])
    except OSError as exc:
        print(f"错误：无法读取文件：{exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    with _services() as services:
        try:
            district = _policy_district(services, args.district)
            with services.db.connect() as conn:
                current = get_policy(conn, district)["policy"]
            cal = calendar_as_dict(Policy.from_dict(current).calendar)
            # This year's dates are replaced by the files; other years stay as they were.
            data = {**current, "calendar": {
                "years": sorted(set(cal["years"]) | {year}),
                "holidays": [d for d in cal["holidays"] if not d.startswith(f"{year}-")]
                + holidays,
                "working_days": [d for d in cal["working_days"]
                                 if not d.startswith(f"{year}-")] + working}}
            saved = _save_policy(services, district, data)
        except QuanzeError as exc:
            return _policy_error(exc)
        print(f"已录入{_district_name(services, district)} {year} 年的节假日安排："
              f"放假 {len(set(holidays))} 天，调休上班 {len(set(working))} 天"
              f"（策略修订 {saved['revision']}）")
        print(f"{year} 年的期限今后按此计算，不再标为临时期限。")
        if saved["revised_deadlines"]:
            print(f"重新计算了 {saved['revised_deadlines']} 个争议的临时期限")
        return 0


def cmd_stats_rebuild(args: argparse.Namespace) -> int:
    from arbitration import rollups

    with _services() as services:
        timezone = args.timezone or services.router.current().settings.timezone
        written = rollups.rebuild(services.db, timezone)
    print(f"已按 {timezone} 的自然日重新统计汇总表（来自全部工单与派单决定的历史）：")
    for table, rows in written.items():
        print(f"  {table}: {rows} 行")
    print("整日的统计期间（该时区零点起止）按汇总表计算，其余期间仍按历史逐条计算。")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    upgrade(make_engine(settings.database_url))
    print(f"database at {settings.database_url} is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quanze", description="quanze (权责): responsibility "
                                "routing and arbitration for 12345 hotlines")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the HTTP API and staff pages")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=_positive, default=1,
                   help="server processes on the port, each with its own SO_REUSEPORT "
                   "listener, engine and database pool (default 1)")
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("demo", help="load the demo district (if empty) and serve it")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=cmd_demo)
    s = sub.add_parser("import", help="load a bundle (.json) or duty list (.xlsx/.csv)")
    s.add_argument("path")
    s.add_argument("--mode", choices=("merge", "replace"), default="merge")
    s.add_argument("--confirm", action="store_true",
                   help="allow a replace that retires more than a fifth of the live rules")
    s.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="check and compile, print what would change, write nothing")
    s.set_defaults(func=cmd_import)
    s = sub.add_parser("export", help="write the matrix as a bundle (.json) or duty list")
    s.add_argument("path")
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("verify", help="check the matrix; exit 1 on errors")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_verify)
    s = sub.add_parser("route", help="route one ticket and print the decision")
    s.add_argument("--category", required=True)
    s.add_argument("--area")
    s.add_argument("--attr", action="append", metavar="K=V")
    s.add_argument("--text")
    s.add_argument("--as-of", dest="as_of")
    s.set_defaults(func=cmd_route)
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    s = keys.add_parser("create", help="create an API key (printed as the last line)")
    s.add_argument("--role", required=True)
    s.add_argument("--unit")
    s.add_argument("--name")
    s.add_argument("--expires", metavar="YYYY-MM-DD", help="last day the key works")
    s.add_argument("--days", type=int, help="the key works for N days")
    s.set_defaults(func=cmd_keys_create)
    s = keys.add_parser("list", help="every key: id, name, role, unit, created, last used")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_keys_list)
    s = keys.add_parser("revoke", help="revoke a key (refused everywhere within 1 s)")
    s.add_argument("id")
    s.set_defaults(func=cmd_keys_revoke)
    s = keys.add_parser("rotate", help="a new secret for a key (same id, role, unit)")
    s.add_argument("id")
    s.set_defaults(func=cmd_keys_rotate)
    users = sub.add_parser("users", help="staff accounts of the workbench").add_subparsers(
        dest="users", required=True)
    s = users.add_parser("create", help="create an account (the password is read from "
                         "standard input when --password is not given)")
    s.add_argument("--login", required=True)
    s.add_argument("--name", required=True, help="the person's name, as pages show it")
    s.add_argument("--role", required=True, help="admin, editor, arbiter, router, unit, viewer")
    s.add_argument("--unit", help="the unit the person works for (required for role unit)")
    s.add_argument("--password")
    s.set_defaults(func=cmd_users_create)
    s = users.add_parser("reset", help="set a new password; unlocks, ends the sessions")
    s.add_argument("--login", required=True)
    s.add_argument("--password")
    s.set_defaults(func=cmd_users_reset)
    s = users.add_parser("disable", help="disable an account; its sessions end at once")
    s.add_argument("--login", required=True)
    s.add_argument("--enable", action="store_true", help="enable it again instead")
    s.set_defaults(func=cmd_users_disable)
    s = users.add_parser("list", help="every account: login, name, role, unit, state")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_users_list)
    s = sub.add_parser("graph", help="render a responsibility graph")
    s.add_argument("--view", required=True)
    s.add_argument("--focus")
    s.add_argument("--category")
    s.add_argument("--unit-kind", dest="unit_kind", help="show units of one kind")
    s.add_argument("--district", help="category view: one district's townships")
    s.add_argument("--from", dest="start", help="hotspots: period start (date or ISO time)")
    s.add_argument("--to", dest="end", help="hotspots: period end")
    s.add_argument("--out", required=True, help="FILE.svg | .png | .dot | .json")
    s.set_defaults(func=cmd_graph)
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit",
                                                                        required=True)
    key_help = ("the signing key (default $QUANZE_AUDIT_KEY_FILE or "
                "~/.config/quanze/audit.key; made on first use, mode 0600)")
    s = audit.add_parser("verify", help="check the hash chain; exit 1 if broken")
    s.add_argument("--checkpoint", metavar="FILE",
                   help="also check that the log still extends this checkpoint")
    s.add_argument("--key-file", dest="key_file", help=key_help)
    s.set_defaults(func=cmd_audit_verify)
    s = audit.add_parser("checkpoint", help="write the signed head of the chain to FILE")
    s.add_argument("--out", required=True, metavar="FILE")
    s.add_argument("--key-file", dest="key_file", help=key_help)
    s.set_defaults(func=cmd_audit_checkpoint)
    versions = sub.add_parser("versions", help="rule-set versions").add_subparsers(
        dest="versions", required=True)
    s = versions.add_parser("list", help="the newest versions and the one served")
    s.add_argument("--json", action="store_true")
    s.add_argument("--limit", type=int, default=20)
    s.set_defaults(func=cmd_versions_list)
    s = versions.add_parser("activate", help="make version N's matrix current again")
    s.add_argument("version", type=int)
    s.set_defaults(func=cmd_versions_activate)
    policy = sub.add_parser("policy", help="the district's process rules and working-day "
                            "calendar").add_subparsers(dest="policy", required=True)
    s = policy.add_parser("show", help="print the policy in force (--json: as the API)")
    s.add_argument("--district", help="an area code: its district's policy (default: the "
                   "policy of districts without their own)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_policy_show)
    s = policy.add_parser("set", help="store a policy from a JSON file (fields left out take "
                          "the built-in values)")
    s.add_argument("file", metavar="FILE.json")
    s.add_argument("--district")
    s.set_defaults(func=cmd_policy_set)
    s = policy.add_parser("calendar", help="enter one year's holidays and adjusted working "
                          "days (调休) into the policy")
    s.add_argument("--year", type=int, required=True)
    s.add_argument("--holidays-file", dest="holidays_file", required=True,
                   help="dates not worked, one per line or a range A..B")
    s.add_argument("--working-days-file", dest="working_days_file",
                   help="weekend dates worked (调休), one per line or a range A..B")
    s.add_argument("--district")
    s.set_defaults(func=cmd_policy_calendar)
    privacy = sub.add_parser("privacy", help="citizen privacy").add_subparsers(
        dest="privacy", required=True)
    s = privacy.add_parser("purge", help="remove stored ticket text older than the retention "
                           "period (QUANZE_TEXT_RETENTION_DAYS), keeping the decisions")
    s.add_argument("--before", help="remove the text of decisions made before this date or "
                   "ISO time (default: now minus the retention period)")
    s.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="count only; change nothing")
    s.set_defaults(func=cmd_privacy_purge)
    stats = sub.add_parser("stats", help="dispatch-quality statistics").add_subparsers(
        dest="stats", required=True)
    s = stats.add_parser("rebuild", help="count the statistics' daily rollups again from the "
                         "history (after a bulk load, or in another time zone)")
    s.add_argument("--timezone", help="count by this zone's local days (default: the "
                   "matrix's settings.timezone)")
    s.set_defaults(func=cmd_stats_rebuild)
    db = sub.add_parser("db", help="database").add_subparsers(dest="db", required=True)
    s = db.add_parser("upgrade", help="apply migrations")
    s.set_defaults(func=cmd_db_upgrade)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except BundleInvalid as exc:
        print(f"错误（{exc.code}）：{zh.message(exc)}", file=sys.stderr)
        for p in exc.problems:
            where = f"{p.location}" + (f" [{p.field}]" if p.field else "")
            print(f"  {where}: {p.message}", file=sys.stderr)
        return 1
    except QuanzeError as exc:
        print(f"错误（{exc.code}）：{zh.message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
