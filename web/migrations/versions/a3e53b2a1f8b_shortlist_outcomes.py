"""shortlist outcomes (when, by whom, note) and a longer algorithm version

Fair rotation counts awards by `outcome_at`, hence the index on the awarded supplier.
matcher.ALGORITHM_VERSION is longer than the 40 characters first allowed.

Revision ID: a3e53b2a1f8b
Revises: f11a96d85779
Create Date: 2026-11-26 03:34:59.048470

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a3e53b2a1f8b'
down_revision = 'f11a96d85779'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shortlists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outcome_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('outcome_note', sa.Text(), nullable=False, server_default='')
        )
        batch_op.alter_column('algorithm_version',
               existing_type=sa.VARCHAR(length=40),
               type_=sa.String(length=200),
               existing_nullable=True)
        batch_op.create_index(
            batch_op.f('ix_shortlists_awarded_supplier_id'), ['awarded_supplier_id'],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_shortlists_outcome_by_id_users'), 'users', ['outcome_by_id'], ['id']
        )


def downgrade():
    with op.batch_alter_table('shortlists', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_shortlists_outcome_by_id_users'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_shortlists_awarded_supplier_id'))
        batch_op.alter_column('algorithm_version',
               existing_type=sa.String(length=200),
               type_=sa.VARCHAR(length=40),
               existing_nullable=True)
        batch_op.drop_column('outcome_note')
        batch_op.drop_column('outcome_by_id')
        batch_op.drop_column('outcome_at')
