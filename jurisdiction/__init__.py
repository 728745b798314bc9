"""The jurisdiction model: units, the area hierarchy with its territorial units (属地), and the
three-level matter classification (事项分类). Pure: imports only the standard library and
networkx, except the storage adapter in :mod:`jurisdiction.tables`."""
