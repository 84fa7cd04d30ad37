"""users must change a password an administrator chose

A user whose password an administrator set (a new account, or a forgotten password
replaced) chooses their own before anything else. Existing users are not asked.

Revision ID: b7d2e9f4a1c3
Revises: e5a7c3f1d2b4
Create Date: 2026-11-27 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7d2e9f4a1c3'
down_revision = 'e5a7c3f1d2b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
