"""waitlist: entries and offers

Revision ID: 0010_waitlist
Revises: 0009_desk_and_queue
Create Date: 2026-12-06 07:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0010_waitlist'
down_revision = '0009_desk_and_queue'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'waitlist_entries',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('patient_id', sa.Uuid(), nullable=False),
        sa.Column('for_dependent_id', sa.Uuid(), nullable=True),
        sa.Column('doctor_id', sa.Uuid(), nullable=False),
        sa.Column('date_from', sa.Date(), nullable=False),
        sa.Column('date_to', sa.Date(), nullable=False),
        sa.Column('day_parts', sa.String(length=40), nullable=False),
        sa.Column('consultation_type', sa.String(length=16), nullable=True),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('date_to >= date_from', name=op.f('ck_waitlist_entries_range')),
        sa.CheckConstraint("status IN ('ACTIVE', 'BOOKED', 'LEFT', 'ENDED')",
                           name=op.f('ck_waitlist_entries_status')),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_waitlist_entries_doctor_id_doctors')),
        sa.ForeignKeyConstraint(['for_dependent_id'], ['dependents.id'],
                                name=op.f('fk_waitlist_entries_for_dependent_id_dependents')),
        sa.ForeignKeyConstraint(['patient_id'], ['users.id'],
                                name=op.f('fk_waitlist_entries_patient_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entries')),
    )
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_entries_doctor_status_created',
                              ['doctor_id', 'status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entries_patient_id'), ['patient_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entries_seq'), ['seq'], unique=False)
    op.create_table(
        'waitlist_offers',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('entry_id', sa.Uuid(), nullable=False),
        sa.Column('patient_id', sa.Uuid(), nullable=False),
        sa.Column('doctor_id', sa.Uuid(), nullable=False),
        sa.Column('slot_id', sa.Uuid(), nullable=True),
        sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('batch', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('appointment_id', sa.Uuid(), nullable=True),
        sa.CheckConstraint("status IN ('OFFERED', 'TAKEN', 'GONE', 'LAPSED', 'WITHDRAWN')",
                           name=op.f('ck_waitlist_offers_status')),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'],
                                name=op.f('fk_waitlist_offers_appointment_id_appointments')),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_waitlist_offers_doctor_id_doctors')),
        sa.ForeignKeyConstraint(['entry_id'], ['waitlist_entries.id'],
                                name=op.f('fk_waitlist_offers_entry_id_waitlist_entries')),
        sa.ForeignKeyConstraint(['patient_id'], ['users.id'],
                                name=op.f('fk_waitlist_offers_patient_id_users')),
        sa.ForeignKeyConstraint(['slot_id'], ['available_slots.id'],
                                name=op.f('fk_waitlist_offers_slot_id_available_slots'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_offers')),
        sa.UniqueConstraint('entry_id', 'slot_id', name='uq_waitlist_offers_entry_slot'),
    )
    with op.batch_alter_table('waitlist_offers', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_offers_patient_offered', ['patient_id', 'offered_at'],
                              unique=False)
        batch_op.create_index('ix_waitlist_offers_slot_status', ['slot_id', 'status'],
                              unique=False)
        batch_op.create_index('ix_waitlist_offers_status_expires', ['status', 'expires_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('waitlist_offers', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_offers_status_expires')
        batch_op.drop_index('ix_waitlist_offers_slot_status')
        batch_op.drop_index('ix_waitlist_offers_patient_offered')
    op.drop_table('waitlist_offers')
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waitlist_entries_seq'))
        batch_op.drop_index(batch_op.f('ix_waitlist_entries_patient_id'))
        batch_op.drop_index('ix_waitlist_entries_doctor_status_created')
    op.drop_table('waitlist_entries')
