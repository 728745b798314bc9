"""decisions.text_removed_at: when the retention purge removed a decision's ticket text
(privacy: 北京市接诉即办工作条例, 个人信息依法受到保护), and a partial index of the decisions
that still hold theirs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_removed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_decisions_text_kept', 'decisions', ['created_at'], unique=False,
                    sqlite_where=sa.text('text_removed_at IS NULL'),
                    postgresql_where=sa.text('text_removed_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_decisions_text_kept', table_name='decisions',
                  sqlite_where=sa.text('text_removed_at IS NULL'),
                  postgresql_where=sa.text('text_removed_at IS NULL'))
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_column('text_removed_at')
