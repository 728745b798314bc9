"""categories.intake: a category's intake flag (not accepted by 12345, or transfer to
110 / 119 / 120 / 122); null means the matter is dispatched as usual

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('categories') as batch:
        batch.add_column(sa.Column('intake', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('categories') as batch:
        batch.drop_column('intake')
