"""The responsibility matrix (派单目录 / 职责清单) as rules, and closest-responsibility
resolution (职能最近). Pure modules: model, conditions, resolution, verification, compiler,
bundle. Adapters: engine (the one door to durable_rules), tables/store (SQLAlchemy)."""
