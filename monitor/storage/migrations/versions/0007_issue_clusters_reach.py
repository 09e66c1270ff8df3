"""issue clusters within a category, reposts as spread, author reach

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('posts') as batch:
        batch.add_column(sa.Column('repost_of', sa.String(length=1024), nullable=False, server_default=''))
        batch.add_column(sa.Column('author_followers', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('author_kind', sa.String(length=40), nullable=False, server_default=''))
        batch.create_index('ix_posts_repost_of', ['platform', 'repost_of'], unique=False)
    with op.batch_alter_table('mentions') as batch:
        batch.add_column(sa.Column('tokens', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('spread_of', sa.Integer(), nullable=True))
        batch.create_index('ix_mentions_spread_of', ['spread_of'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mentions') as batch:
        batch.drop_index('ix_mentions_spread_of')
        batch.drop_column('spread_of')
        batch.drop_column('tokens')
    with op.batch_alter_table('posts') as batch:
        batch.drop_index('ix_posts_repost_of')
        batch.drop_column('author_kind')
        batch.drop_column('author_followers')
        batch.drop_column('repost_of')
