"""audit event request keys

A web request's audit events carry a key unique to the request and the event's place in
it, so that a request run again after a database restart cut off its commit does not
record the same event twice.

Revision ID: e5a7c3f1d2b4
Revises: c41d7e2a9b10
Create Date: 2026-11-26 18:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e5a7c3f1d2b4'
down_revision = 'c41d7e2a9b10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_key', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_audit_events_request_key', ['request_key'], unique=True)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_request_key')
        batch_op.drop_column('request_key')
