"""audit events by object

Every search adds an audit event, and a shortlist's or supplier's trail is read by its
object: an index on (object_type, object_id) keeps those reads from scanning the table.

Revision ID: c41d7e2a9b10
Revises: 86b962620839
Create Date: 2026-11-26 07:55:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c41d7e2a9b10'
down_revision = '86b962620839'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_object', ['object_type', 'object_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_object')
