"""leases (replicas share sources and clock jobs), email threads, reopen clocks

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=250), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('threads',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('thread', sa.String(length=250), nullable=False),
    sa.Column('message_id', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'thread')
    )
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('reopens', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('reopened_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('notices') as batch:
        batch.add_column(sa.Column('sent_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notices') as batch:
        batch.drop_column('sent_at')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('reopened_at')
        batch.drop_column('reopens')
    op.drop_table('threads')
    op.drop_table('leases')
