"""cpv codes

The CPV 2008 list, imported by each installation from the EU's file (``flask cpv import``):
the codes the search form's autocomplete suggests and the descriptions profiles show.

Revision ID: 86b962620839
Revises: 6b937bdaf8ce
Create Date: 2026-11-26 04:49:17.101863

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '86b962620839'
down_revision = '6b937bdaf8ce'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cpv_codes',
        sa.Column('code8', sa.String(length=8), nullable=False),
        sa.Column('code_with_check', sa.String(length=10), nullable=True),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('parent', sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint('code8', name=op.f('pk_cpv_codes')),
    )


def downgrade():
    op.drop_table('cpv_codes')
