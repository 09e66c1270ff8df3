"""playbooks: checklist steps, customer demands, owning team, resolution, follow-up

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ticket_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('done_by', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('overdue_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'number', name='uq_ticket_steps_number')
    )
    op.create_index('ix_ticket_steps_ticket_id', 'ticket_steps', ['ticket_id'], unique=False)
    op.create_table('demands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('done_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'number', name='uq_demands_number')
    )
    op.create_index('ix_demands_ticket_id', 'demands', ['ticket_id'], unique=False)
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('team', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('resolution', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('follow_up_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('follow_up_at')
        batch.drop_column('resolution')
        batch.drop_column('team')
    op.drop_index('ix_demands_ticket_id', table_name='demands')
    op.drop_table('demands')
    op.drop_index('ix_ticket_steps_ticket_id', table_name='ticket_steps')
    op.drop_table('ticket_steps')
