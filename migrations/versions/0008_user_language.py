"""users.language: the preferred language of pages and messages, one per person

Revision ID: 0008_user_language
Revises: 0007_profiles_and_families
Create Date: 2026-12-06 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008_user_language'
down_revision = '0007_profiles_and_families'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=5), nullable=False,
                                      server_default='en'))
    # Until now the language lived only in the notification preferences.
    op.execute("UPDATE users SET language = (SELECT p.language FROM "
               "user_notification_preferences p WHERE p.user_id = users.id) "
               "WHERE EXISTS (SELECT 1 FROM user_notification_preferences p "
               "WHERE p.user_id = users.id)")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')
