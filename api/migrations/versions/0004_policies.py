"""policies: each district's process rules (return windows, bounce cap, dispute deadlines),
append-only by revision

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policies',
    sa.Column('district', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('district', 'revision', name=op.f('pk_policies'))
    )


def downgrade() -> None:
    op.drop_table('policies')
