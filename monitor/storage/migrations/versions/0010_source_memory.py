"""what a stream source keeps across restarts (its cursor and counters), and its status

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'source_memory',
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=50), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('saved_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    with op.batch_alter_table('source_state') as batch:
        batch.add_column(sa.Column('stream', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('source_state') as batch:
        batch.drop_column('stream')
    op.drop_table('source_memory')
