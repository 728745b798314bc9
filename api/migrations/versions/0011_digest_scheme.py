"""ruleset_versions.digest_scheme: how a version's content digest was computed. Versions
committed from now on record scheme 2 (per-row sums a change updates for the rows it writes,
so a one-rule change no longer hashes the whole matrix, issue 12); the older ones keep their
digests (null: scheme 1, one hash of the whole matrix), which are still verified as such.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 22:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_scheme', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.drop_column('digest_scheme')
