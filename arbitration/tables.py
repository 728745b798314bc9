"""SQLAlchemy tables of the arbitration layer."""

from __future__ import annotations
