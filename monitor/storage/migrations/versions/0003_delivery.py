"""delivery: notices and groups (Alertmanager-style pacing), silences, ticket owners,
threaded and multi-channel messages

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('route', sa.String(length=200), nullable=False),
    sa.Column('group_key', sa.String(length=500), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('previous_severity', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message_key', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('ix_notices_pending', 'notices', ['status', 'due_at'], unique=False)
    op.create_index('ix_notices_route_ticket', 'notices', ['route', 'ticket_id'], unique=False)
    op.create_table('alert_groups',
    sa.Column('route', sa.String(length=200), nullable=False),
    sa.Column('group_key', sa.String(length=500), nullable=False),
    sa.Column('last_flush_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('route', 'group_key')
    )
    op.create_table('silences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand', sa.String(length=200), nullable=True),
    sa.Column('term', sa.String(length=200), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_silences_ends_at', 'silences', ['ends_at'], unique=False)
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('owner', sa.String(length=200), nullable=True))
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('ticket_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('ticket_ids', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('channel', sa.String(length=200), nullable=False, server_default='email'))
        batch.add_column(sa.Column('in_reply_to', sa.String(length=300), nullable=False, server_default=''))
        batch.add_column(sa.Column('images', sa.JSON(), nullable=False, server_default='{}'))
        batch.create_index('ix_messages_message_id', ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_index('ix_messages_message_id')
        batch.drop_column('images')
        batch.drop_column('in_reply_to')
        batch.drop_column('channel')
        batch.drop_column('ticket_ids')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('owner')
    op.drop_index('ix_silences_ends_at', table_name='silences')
    op.drop_table('silences')
    op.drop_table('alert_groups')
    op.drop_index('ix_notices_route_ticket', table_name='notices')
    op.drop_index('ix_notices_pending', table_name='notices')
    op.drop_table('notices')
