"""source state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:31:59.395942
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('source_state',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('last_poll_at', sa.DateTime(), nullable=True),
    sa.Column('last_success_at', sa.DateTime(), nullable=True),
    sa.Column('failing_since', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('posts_seen', sa.BigInteger(), nullable=False),
    sa.Column('next_poll_at', sa.DateTime(), nullable=True),
    sa.Column('retry_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )



def downgrade() -> None:

    op.drop_table('source_state')

