"""ruleset_versions.digest and decisions.ruleset_digest: the content digest of each rule-set
version, recorded when it is committed and by every decision made under it, so that a version
whose rows changed after its commit is not served and a replay says whether it ran on the
rules the decision used (issue 9 §2). Older rows keep a null digest.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 20:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ruleset_digest', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_column('ruleset_digest')
    with op.batch_alter_table('ruleset_versions', schema=None) as batch_op:
        batch_op.drop_column('digest')
