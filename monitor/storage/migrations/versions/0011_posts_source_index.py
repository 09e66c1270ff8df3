"""an index on a source's recent posts (source, last_seen_at)

Restoring a hot list's entries at a start, reload or take-over and choosing the posts a
poll re-reads both ask for one source's recently seen posts; without it PostgreSQL scans
the whole posts table each time.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_posts_source_seen', 'posts', ['source', 'last_seen_at'])


def downgrade() -> None:
    op.drop_index('ix_posts_source_seen', table_name='posts')
