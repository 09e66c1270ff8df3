"""a platform's "wait" belongs to the source settings it was said to

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source_state') as batch:
        batch.add_column(sa.Column('retry_scope', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('source_state') as batch:
        batch.drop_column('retry_scope')
