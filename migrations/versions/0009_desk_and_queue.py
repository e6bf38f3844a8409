"""the front desk and the queue: staff role, arrived and in-consultation states, queue tokens and
delays, desk payments (offline, payment links)

Revision ID: 0009_desk_and_queue
Revises: 0008_user_language
Create Date: 2026-12-06 07:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009_desk_and_queue'
down_revision = '0008_user_language'
branch_labels = None
depends_on = None

OLD_ACTIVE = "status IN ('RESERVED', 'CONFIRMED')"
NEW_ACTIVE = "status IN ('RESERVED', 'CONFIRMED', 'ARRIVED', 'IN_CONSULTATION')"
OLD_STATUS = ("status IN ('RESERVED', 'CONFIRMED', 'EXPIRED', 'CANCELLED', 'COMPLETED', "
              "'NO_SHOW')")
NEW_STATUS = ("status IN ('RESERVED', 'CONFIRMED', 'ARRIVED', 'IN_CONSULTATION', 'EXPIRED', "
              "'CANCELLED', 'COMPLETED', 'NO_SHOW')")
OLD_ROLES = ('patient', 'doctor', 'admin')
NEW_ROLES = ('patient', 'doctor', 'staff', 'admin')


def _appointment_rules(active: str, status: str) -> None:
    """The active-slot index, the status check and (PostgreSQL) the no-overlap exclusion."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE appointments DROP CONSTRAINT ex_appointments_doctor_no_overlap")
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('uq_appointments_active_slot')
        batch_op.drop_constraint(op.f('ck_appointments_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_appointments_status'), status)
        batch_op.create_index('uq_appointments_active_slot', ['slot_id'], unique=True,
                              postgresql_where=sa.text(active), sqlite_where=sa.text(active))
    if postgres:
        op.execute(
            "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_doctor_no_overlap "
            "EXCLUDE USING gist (doctor_id WITH =, tstzrange(start_at, end_at) WITH &&) "
            f"WHERE ({active})")


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('role', existing_type=sa.Enum(*OLD_ROLES, name='role',
                                                            native_enum=False, length=16),
                              type_=sa.Enum(*NEW_ROLES, name='role', native_enum=False,
                                            length=16), existing_nullable=False)
    _appointment_rules(NEW_ACTIVE, NEW_STATUS)

    op.create_table(
        'queue_tokens',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('doctor_id', sa.Uuid(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('appointment_id', sa.Uuid(), nullable=True),
        sa.Column('patient_id', sa.Uuid(), nullable=True),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('slot_start_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('called_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by_id', sa.Uuid(), nullable=True),
        sa.CheckConstraint('number > 0', name=op.f('ck_queue_tokens_number')),
        sa.CheckConstraint("kind IN ('BOOKED', 'WALK_IN')", name=op.f('ck_queue_tokens_kind')),
        sa.CheckConstraint("status IN ('WAITING', 'IN_CONSULTATION', 'DONE', 'NO_SHOW', "
                           "'LEFT')", name=op.f('ck_queue_tokens_status')),
        sa.CheckConstraint("(kind = 'BOOKED') = (appointment_id IS NOT NULL)",
                           name=op.f('ck_queue_tokens_booked')),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'],
                                name=op.f('fk_queue_tokens_appointment_id_appointments')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_queue_tokens_created_by_id_users')),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_queue_tokens_doctor_id_doctors')),
        sa.ForeignKeyConstraint(['patient_id'], ['users.id'],
                                name=op.f('fk_queue_tokens_patient_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_tokens')),
        sa.UniqueConstraint('appointment_id', name=op.f('uq_queue_tokens_appointment_id')),
        sa.UniqueConstraint('doctor_id', 'day', 'number', name='uq_queue_tokens_number'),
    )
    with op.batch_alter_table('queue_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_queue_tokens_doctor_day_status', ['doctor_id', 'day', 'status'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_queue_tokens_patient_id'), ['patient_id'],
                              unique=False)

    op.create_table(
        'queue_delays',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('doctor_id', sa.Uuid(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('minutes', sa.Integer(), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('announced_by_id', sa.Uuid(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('minutes BETWEEN 0 AND 480', name=op.f('ck_queue_delays_minutes')),
        sa.ForeignKeyConstraint(['announced_by_id'], ['users.id'],
                                name=op.f('fk_queue_delays_announced_by_id_users')),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_queue_delays_doctor_id_doctors')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_delays')),
    )
    with op.batch_alter_table('queue_delays', schema=None) as batch_op:
        batch_op.create_index('ix_queue_delays_doctor_day', ['doctor_id', 'day'], unique=False)

    with op.batch_alter_table('payment_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=10), nullable=False,
                                      server_default='CHECKOUT'))
        batch_op.add_column(sa.Column('offline_reference', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('recorded_by_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payment_transactions_recorded_by_id_users'),
                                    'users', ['recorded_by_id'], ['id'])

    op.create_table(
        'payment_links',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('payment_id', sa.Uuid(), nullable=False),
        sa.Column('gateway_link_id', sa.String(length=40), nullable=True),
        sa.Column('short_url', sa.String(length=300), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by_id', sa.Uuid(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_payment_links_created_by_id_users')),
        sa.ForeignKeyConstraint(['payment_id'], ['payment_transactions.id'],
                                name=op.f('fk_payment_links_payment_id_payment_transactions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_links')),
        sa.UniqueConstraint('gateway_link_id', name=op.f('uq_payment_links_gateway_link_id')),
        sa.UniqueConstraint('payment_id', name=op.f('uq_payment_links_payment_id')),
    )


def downgrade():
    op.drop_table('payment_links')
    with op.batch_alter_table('payment_transactions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_transactions_recorded_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('recorded_by_id')
        batch_op.drop_column('offline_reference')
        batch_op.drop_column('channel')
    with op.batch_alter_table('queue_delays', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_delays_doctor_day')
    op.drop_table('queue_delays')
    with op.batch_alter_table('queue_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queue_tokens_patient_id'))
        batch_op.drop_index('ix_queue_tokens_doctor_day_status')
    op.drop_table('queue_tokens')
    op.execute("UPDATE appointments SET status = 'CONFIRMED' "
               "WHERE status IN ('ARRIVED', 'IN_CONSULTATION')")
    _appointment_rules(OLD_ACTIVE, OLD_STATUS)
    op.execute("UPDATE users SET role = 'patient' WHERE role = 'staff'")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('role', existing_type=sa.Enum(*NEW_ROLES, name='role',
                                                            native_enum=False, length=16),
                              type_=sa.Enum(*OLD_ROLES, name='role', native_enum=False,
                                            length=16), existing_nullable=False)
