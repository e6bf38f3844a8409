"""reschedule history keeps the old slot and times in columns, not in the reason text

Revision ID: 0006_reschedule_history
Revises: 0005_notifications
Create Date: 2026-12-06 06:00:00

"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0006_reschedule_history'
down_revision = '0005_notifications'
branch_labels = None
depends_on = None

PREFIX = "rescheduled from "


def upgrade():
    with op.batch_alter_table('appointment_status_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('old_slot_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('old_start_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('old_end_at', sa.DateTime(timezone=True), nullable=True))

    # Earlier reschedules wrote the old start into the reason ("rescheduled from <ISO time>").
    conn = op.get_bind()
    history = sa.table('appointment_status_history', sa.column('id', sa.BigInteger),
                       sa.column('from_status', sa.String), sa.column('to_status', sa.String),
                       sa.column('reason', sa.String),
                       sa.column('old_start_at', sa.DateTime(timezone=True)))
    rows = conn.execute(sa.select(history.c.id, history.c.reason).where(
        history.c.from_status == 'CONFIRMED', history.c.to_status == 'CONFIRMED',
        history.c.reason.like(PREFIX + '%'))).all()
    for row_id, reason in rows:
        try:
            old = datetime.fromisoformat(reason.removeprefix(PREFIX).strip())
        except ValueError:
            continue
        old = old.replace(tzinfo=UTC) if old.tzinfo is None else old.astimezone(UTC)
        if conn.dialect.name == 'sqlite':
            old = old.replace(tzinfo=None)
        conn.execute(history.update().where(history.c.id == row_id).values(
            old_start_at=old, reason='rescheduled'))


def downgrade():
    with op.batch_alter_table('appointment_status_history', schema=None) as batch_op:
        batch_op.drop_column('old_end_at')
        batch_op.drop_column('old_start_at')
        batch_op.drop_column('old_slot_id')
