"""slot_versions: a counter per doctor, bumped by every change to the doctor's slots (the slot
listing's ETag)

Revision ID: 0015_slot_versions
Revises: 0014_minimum_necessary_words
Create Date: 2026-12-06 08:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0015_slot_versions'
down_revision = '0014_minimum_necessary_words'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'slot_versions',
        sa.Column('doctor_id', sa.Uuid(), nullable=False),
        sa.Column('version', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_slot_versions_doctor_id_doctors'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('doctor_id', name=op.f('pk_slot_versions')),
    )


def downgrade():
    op.drop_table('slot_versions')
