"""profiles and families: doctor buffer and photo, dependents, appointments for a dependent

Revision ID: 0007_profiles_and_families
Revises: 0006_reschedule_history
Create Date: 2026-12-06 06:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007_profiles_and_families'
down_revision = '0006_reschedule_history'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('doctors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buffer_minutes', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('photo_version', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_doctors_buffer_minutes'),
                                         'buffer_minutes BETWEEN 0 AND 120')

    op.create_table(
        'dependents',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('account_holder_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('relation', sa.String(length=20), nullable=False),
        sa.Column('date_of_birth', sa.Date(), nullable=False),
        sa.Column('sex', sa.String(length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("relation IN ('CHILD', 'SPOUSE', 'PARENT', 'SIBLING', "
                           "'GRANDPARENT', 'OTHER')", name=op.f('ck_dependents_relation')),
        sa.CheckConstraint("sex IN ('FEMALE', 'MALE', 'OTHER')", name=op.f('ck_dependents_sex')),
        sa.ForeignKeyConstraint(['account_holder_id'], ['users.id'],
                                name=op.f('fk_dependents_account_holder_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dependents')),
    )
    with op.batch_alter_table('dependents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dependents_account_holder_id'),
                              ['account_holder_id'], unique=False)

    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('for_dependent_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_appointments_for_dependent_id_dependents'),
                                    'dependents', ['for_dependent_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_appointments_for_dependent_id'),
                              ['for_dependent_id'], unique=False)


def downgrade():
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointments_for_dependent_id'))
        batch_op.drop_constraint(batch_op.f('fk_appointments_for_dependent_id_dependents'),
                                 type_='foreignkey')
        batch_op.drop_column('for_dependent_id')
    with op.batch_alter_table('dependents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dependents_account_holder_id'))
    op.drop_table('dependents')
    with op.batch_alter_table('doctors', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_doctors_buffer_minutes'), type_='check')
        batch_op.drop_column('photo_version')
        batch_op.drop_column('buffer_minutes')
