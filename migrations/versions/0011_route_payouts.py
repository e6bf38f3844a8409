"""route payouts: doctors' linked accounts, transfers of their share, reversals

Revision ID: 0011_route_payouts
Revises: 0010_waitlist
Create Date: 2026-12-06 06:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011_route_payouts'
down_revision = '0010_waitlist'
branch_labels = None
depends_on = None

LINKED_ACCOUNT_STATUS = "status IN ('created', 'activated', 'needs_clarification', 'suspended')"
TRANSFER_STATUS = ("status IN ('pending', 'processed', 'failed', 'partially_reversed', "
                   "'reversed')")


def upgrade():
    op.create_table(
        'linked_accounts',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('doctor_id', sa.Uuid(), nullable=False),
        sa.Column('gateway_account_id', sa.String(length=40), nullable=True),
        sa.Column('gateway_product_id', sa.String(length=40), nullable=True),
        sa.Column('legal_name', sa.String(length=200), nullable=False),
        sa.Column('contact_name', sa.String(length=120), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('account_last4', sa.String(length=4), nullable=False),
        sa.Column('ifsc', sa.String(length=11), nullable=False),
        sa.Column('beneficiary_name', sa.String(length=120), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(LINKED_ACCOUNT_STATUS, name=op.f('ck_linked_accounts_status')),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_linked_accounts_doctor_id_doctors')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_linked_accounts')),
        sa.UniqueConstraint('doctor_id', name=op.f('uq_linked_accounts_doctor_id')),
        sa.UniqueConstraint('gateway_account_id',
                            name=op.f('uq_linked_accounts_gateway_account_id')),
    )
    op.create_table(
        'transfers',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('payment_id', sa.Uuid(), nullable=False),
        sa.Column('doctor_id', sa.Uuid(), nullable=False),
        sa.Column('linked_account_id', sa.Uuid(), nullable=False),
        sa.Column('gateway_transfer_id', sa.String(length=40), nullable=True),
        sa.Column('amount_paise', sa.Integer(), nullable=False),
        sa.Column('commission_paise', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('on_hold', sa.Boolean(), nullable=False),
        sa.Column('release_requested_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reversed_paise', sa.Integer(), nullable=False),
        sa.Column('settlement_id', sa.String(length=40), nullable=True),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('payout_id', sa.Uuid(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(TRANSFER_STATUS, name=op.f('ck_transfers_status')),
        sa.CheckConstraint('amount_paise > 0', name=op.f('ck_transfers_amount')),
        sa.CheckConstraint('reversed_paise >= 0 AND reversed_paise <= amount_paise',
                           name=op.f('ck_transfers_reversed')),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_transfers_doctor_id_doctors')),
        sa.ForeignKeyConstraint(['linked_account_id'], ['linked_accounts.id'],
                                name=op.f('fk_transfers_linked_account_id_linked_accounts')),
        sa.ForeignKeyConstraint(['payment_id'], ['payment_transactions.id'],
                                name=op.f('fk_transfers_payment_id_payment_transactions')),
        sa.ForeignKeyConstraint(['payout_id'], ['doctor_payouts.id'],
                                name=op.f('fk_transfers_payout_id_doctor_payouts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers')),
        sa.UniqueConstraint('gateway_transfer_id', name=op.f('uq_transfers_gateway_transfer_id')),
        sa.UniqueConstraint('payment_id', name=op.f('uq_transfers_payment_id')),
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfers_doctor_id'), ['doctor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_payout_id'), ['payout_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_settlement_id'), ['settlement_id'],
                              unique=False)
        batch_op.create_index('ix_transfers_status_updated', ['status', 'updated_at'],
                              unique=False)
    op.create_table(
        'transfer_reversals',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('transfer_id', sa.Uuid(), nullable=False),
        sa.Column('refund_id', sa.Uuid(), nullable=True),
        sa.Column('idempotency_key', sa.String(length=80), nullable=False),
        sa.Column('gateway_reversal_id', sa.String(length=40), nullable=True),
        sa.Column('amount_paise', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount_paise > 0', name=op.f('ck_transfer_reversals_amount')),
        sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'],
                                name=op.f('fk_transfer_reversals_refund_id_refunds')),
        sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'],
                                name=op.f('fk_transfer_reversals_transfer_id_transfers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_reversals')),
        sa.UniqueConstraint('gateway_reversal_id',
                            name=op.f('uq_transfer_reversals_gateway_reversal_id')),
        sa.UniqueConstraint('idempotency_key', name=op.f('uq_transfer_reversals_idempotency_key')),
    )
    with op.batch_alter_table('transfer_reversals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_reversals_refund_id'), ['refund_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_transfer_reversals_transfer_id'), ['transfer_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('transfer_reversals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_reversals_transfer_id'))
        batch_op.drop_index(batch_op.f('ix_transfer_reversals_refund_id'))
    op.drop_table('transfer_reversals')
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_status_updated')
        batch_op.drop_index(batch_op.f('ix_transfers_settlement_id'))
        batch_op.drop_index(batch_op.f('ix_transfers_payout_id'))
        batch_op.drop_index(batch_op.f('ix_transfers_doctor_id'))
    op.drop_table('transfers')
    op.drop_table('linked_accounts')
