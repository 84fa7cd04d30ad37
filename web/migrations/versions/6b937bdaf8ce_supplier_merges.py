"""supplier merges and not-duplicate decisions

Deactivation is soft and says when and why; a supplier merged into another as a duplicate
points at the survivor (``merged_into_id``). ``supplier_not_duplicates`` remembers pairs an
admin has ruled out, so the duplicate finder does not suggest them again.

Revision ID: 6b937bdaf8ce
Revises: d8fe75922f9a
Create Date: 2026-11-26 04:21:46.873518

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '6b937bdaf8ce'
down_revision = 'd8fe75922f9a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'supplier_not_duplicates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('other_id', sa.Integer(), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.CheckConstraint(
            'supplier_id < other_id', name=op.f('ck_supplier_not_duplicates_ordered_pair')
        ),
        sa.ForeignKeyConstraint(
            ['decided_by_id'], ['users.id'],
            name=op.f('fk_supplier_not_duplicates_decided_by_id_users'),
        ),
        sa.ForeignKeyConstraint(
            ['other_id'], ['suppliers.id'],
            name=op.f('fk_supplier_not_duplicates_other_id_suppliers'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['supplier_id'], ['suppliers.id'],
            name=op.f('fk_supplier_not_duplicates_supplier_id_suppliers'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_not_duplicates')),
        sa.UniqueConstraint('supplier_id', 'other_id', name='uq_supplier_not_duplicates_pair'),
    )
    with op.batch_alter_table('supplier_not_duplicates', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_supplier_not_duplicates_other_id'), ['other_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_supplier_not_duplicates_supplier_id'), ['supplier_id'], unique=False
        )

    with op.batch_alter_table('suppliers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deactivation_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_suppliers_merged_into_id'), ['merged_into_id'], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_suppliers_merged_into_id_suppliers'), 'suppliers',
            ['merged_into_id'], ['id'], ondelete='SET NULL',
        )


def downgrade():
    with op.batch_alter_table('suppliers', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_suppliers_merged_into_id_suppliers'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_suppliers_merged_into_id'))
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('deactivation_reason')
        batch_op.drop_column('deactivated_at')

    with op.batch_alter_table('supplier_not_duplicates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_not_duplicates_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_supplier_not_duplicates_other_id'))

    op.drop_table('supplier_not_duplicates')
