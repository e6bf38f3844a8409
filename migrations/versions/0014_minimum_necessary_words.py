"""minimum necessary: stored copies of the retired SMS and push words get the new ones

The built-in SMS and push words no longer name the doctor, and rendering now leaves
`doctor_name`, `specialty` and the reasons empty on those channels. Templates seeded into the
database with the old words (`seed_default_templates`, which `make run` calls) would read
"your appointment with  on ...": a stored row still holding exactly the old built-in words,
never edited by an admin, gets the new ones. Rows an admin changed are left as they are (the
editor says what is left empty). Data only; no schema change.

Revision ID: 0014_minimum_necessary_words
Revises: 0013_privacy
Create Date: 2026-12-06 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014_minimum_necessary_words'
down_revision = '0013_privacy'
branch_labels = None
depends_on = None

# ((type, channel, language), (old subject, old body), (new subject, new body)): copied here,
# not imported, so the migration keeps meaning what it meant when the defaults change again.
# SMS words seeded before and after video consultations (video_link, then is_video) both count
# as old.
REWORDED = [
    (('APPOINTMENT_CANCELLED', 'SMS', 'en'),
     ('', '{{ clinic_name }}: your appointment with {{ doctor_name }} on {{ start }} is cancelled.{% if refund_amount %} Refund: {{ refund_amount }}.{% endif %}'),
     ('', 'Your appointment at {{ clinic_name }} on {{ start }} is cancelled.{% if refund_amount %} Refund: {{ refund_amount }}.{% endif %} Details: {{ appointment_url }}')),
    (('APPOINTMENT_CANCELLED', 'PUSH', 'en'),
     ('Appointment cancelled', '{{ doctor_name }}, {{ start }}'),
     ('Appointment cancelled', 'Your appointment on {{ start }} is cancelled.')),
    (('APPOINTMENT_CONFIRMED', 'SMS', 'en'),
     ('', '{{ clinic_name }}: your appointment with {{ doctor_name }} on {{ start }} is confirmed.{% if video_link %} Video link: {{ video_link }}{% endif %}'),
     ('', 'Your appointment at {{ clinic_name }} on {{ start }} is confirmed. Details: {{ appointment_url }}')),
    (('APPOINTMENT_CONFIRMED', 'SMS', 'en'),
     ('', '{{ clinic_name }}: your appointment with {{ doctor_name }} on {{ start }} is confirmed.{% if is_video %} Join the video call from your appointment page.{% endif %}'),
     ('', 'Your appointment at {{ clinic_name }} on {{ start }} is confirmed. Details: {{ appointment_url }}')),
    (('APPOINTMENT_CONFIRMED', 'PUSH', 'en'),
     ('Appointment confirmed', '{{ doctor_name }}, {{ start }}'),
     ('Appointment confirmed', 'Your appointment on {{ start }} is confirmed.')),
    (('APPOINTMENT_REMINDER', 'SMS', 'en'),
     ('', 'Reminder: {{ doctor_name }} {{ when }} ({{ start }}).{% if video_link %} {{ video_link }}{% endif %}'),
     ('', 'Reminder: your appointment at {{ clinic_name }} is {{ when }}, on {{ start }}. Details: {{ appointment_url }}')),
    (('APPOINTMENT_REMINDER', 'SMS', 'en'),
     ('', 'Reminder: {{ doctor_name }} {{ when }} ({{ start }}).{% if is_video %} Open your appointment to join the video call.{% endif %}'),
     ('', 'Reminder: your appointment at {{ clinic_name }} is {{ when }}, on {{ start }}. Details: {{ appointment_url }}')),
    (('APPOINTMENT_REMINDER', 'PUSH', 'en'),
     ('Appointment {{ when }}', '{{ doctor_name }} at {{ start }}'),
     ('Appointment {{ when }}', 'At {{ clinic_name }}, {{ start }}')),
    (('APPOINTMENT_RESCHEDULED', 'SMS', 'en'),
     ('', '{{ clinic_name }}: your appointment with {{ doctor_name }} moved to {{ start }}.'),
     ('', 'Your appointment at {{ clinic_name }} has moved to {{ start }}. Details: {{ appointment_url }}')),
    (('APPOINTMENT_RESCHEDULED', 'PUSH', 'en'),
     ('Appointment moved', '{{ doctor_name }}, now {{ start }}'),
     ('Appointment moved', 'Your appointment is now on {{ start }}.')),
    (('PAYMENT_LINK', 'SMS', 'en'),
     ('', '{{ clinic_name }}: pay {{ amount }} for {{ doctor_name }}, {{ start }}: {{ link_url }} (until {{ link_expires }})'),
     ('', '{{ clinic_name }}: pay {{ amount }} for your appointment on {{ start }}: {{ link_url }} (until {{ link_expires }})')),
    (('RUNNING_LATE', 'SMS', 'en'),
     ('', '{{ clinic_name }}: {{ doctor_name }} is running about {{ minutes }} minutes late today.{% if note %} {{ note }}{% endif %}'),
     ('', '{{ clinic_name }}: your doctor is running about {{ minutes }} minutes late today.{% if note %} {{ note }}{% endif %} Your place in the queue is kept.')),
    (('RUNNING_LATE', 'PUSH', 'en'),
     ('Running late', '{{ doctor_name }} is about {{ minutes }} minutes late today.'),
     ('Running late', 'Your doctor is about {{ minutes }} minutes late today.')),
    (('APPOINTMENT_CANCELLED', 'SMS', 'hi'),
     ('', '{{ clinic_name }}: {{ doctor_name }} के साथ {{ start }} की अपॉइंटमेंट रद्द हो गई है।'),
     ('', '{{ clinic_name }} में {{ start }} की आपकी अपॉइंटमेंट रद्द हो गई है।{% if refund_amount %} {{ refund_amount }} लौटा दिए जाएंगे।{% endif %} विवरण: {{ appointment_url }}')),
    (('APPOINTMENT_CONFIRMED', 'SMS', 'hi'),
     ('', '{{ clinic_name }}: {{ doctor_name }} के साथ {{ start }} की आपकी अपॉइंटमेंट पक्की है।{% if video_link %} वीडियो लिंक: {{ video_link }}{% endif %}'),
     ('', '{{ clinic_name }} में {{ start }} की आपकी अपॉइंटमेंट पक्की हो गई है। विवरण: {{ appointment_url }}')),
    (('APPOINTMENT_CONFIRMED', 'SMS', 'hi'),
     ('', '{{ clinic_name }}: {{ doctor_name }} के साथ {{ start }} की आपकी अपॉइंटमेंट पक्की है।{% if is_video %} वीडियो कॉल अपनी अपॉइंटमेंट के पेज से जुड़ें।{% endif %}'),
     ('', '{{ clinic_name }} में {{ start }} की आपकी अपॉइंटमेंट पक्की हो गई है। विवरण: {{ appointment_url }}')),
    (('APPOINTMENT_CONFIRMED', 'PUSH', 'hi'),
     ('अपॉइंटमेंट पक्की', '{{ doctor_name }}, {{ start }}'),
     ('अपॉइंटमेंट पक्की', '{{ start }} की आपकी अपॉइंटमेंट पक्की हो गई है।')),
    (('APPOINTMENT_REMINDER', 'SMS', 'hi'),
     ('', 'याद दिलाना: {{ doctor_name }}, {{ start }}।{% if video_link %} {{ video_link }}{% endif %}'),
     ('', 'याद दिलाना: {{ clinic_name }} में आपकी अपॉइंटमेंट {{ when }} है, {{ start }} पर। विवरण: {{ appointment_url }}')),
    (('APPOINTMENT_REMINDER', 'SMS', 'hi'),
     ('', 'याद दिलाना: {{ doctor_name }}, {{ start }}।{% if is_video %} वीडियो कॉल के लिए अपनी अपॉइंटमेंट खोलें।{% endif %}'),
     ('', 'याद दिलाना: {{ clinic_name }} में आपकी अपॉइंटमेंट {{ when }} है, {{ start }} पर। विवरण: {{ appointment_url }}')),
    (('APPOINTMENT_REMINDER', 'PUSH', 'hi'),
     ('अपॉइंटमेंट {{ when }}', '{{ doctor_name }}, {{ start }}'),
     ('अपॉइंटमेंट {{ when }}', '{{ clinic_name }}, {{ start }}')),
    (('APPOINTMENT_RESCHEDULED', 'SMS', 'hi'),
     ('', '{{ clinic_name }}: आपकी अपॉइंटमेंट अब {{ start }} पर है।'),
     ('', '{{ clinic_name }} में आपकी अपॉइंटमेंट अब {{ start }} पर है। विवरण: {{ appointment_url }}')),
    (('PAYMENT_LINK', 'SMS', 'hi'),
     ('', '{{ clinic_name }}: {{ doctor_name }}, {{ start }} के लिए {{ amount }} का भुगतान करें: {{ link_url }} ({{ link_expires }} तक)'),
     ('', '{{ clinic_name }}: {{ start }} की अपॉइंटमेंट के लिए {{ amount }} का भुगतान करें: {{ link_url }} ({{ link_expires }} तक)')),
    (('RUNNING_LATE', 'SMS', 'hi'),
     ('', '{{ clinic_name }}: {{ doctor_name }} आज लगभग {{ minutes }} मिनट देर से चल रहे हैं।{% if note %} {{ note }}{% endif %}'),
     ('', '{{ clinic_name }}: आपके डॉक्टर आज लगभग {{ minutes }} मिनट देर से चल रहे हैं।{% if note %} {{ note }}{% endif %} कतार में आपकी जगह बनी रहेगी।')),
    (('RUNNING_LATE', 'PUSH', 'hi'),
     ('देरी', '{{ doctor_name }} आज लगभग {{ minutes }} मिनट देर से हैं।'),
     ('देरी', 'आपके डॉक्टर आज लगभग {{ minutes }} मिनट देर से हैं।')),
]


_templates = sa.table('notification_templates', sa.column('type', sa.String),
                      sa.column('channel', sa.String), sa.column('language', sa.String),
                      sa.column('subject', sa.String), sa.column('body_text', sa.Text))


def _reword(old: int, new: int) -> None:
    """Rows holding exactly the words at index `old` get the words at index `new`."""
    for entry in REWORDED:
        (kind, channel, language), was, becomes = entry[0], entry[old], entry[new]
        op.execute(_templates.update().where(
            _templates.c.type == kind, _templates.c.channel == channel,
            _templates.c.language == language, _templates.c.subject == was[0],
            _templates.c.body_text == was[1]).values(subject=becomes[0], body_text=becomes[1]))


def upgrade():
    _reword(1, 2)


def downgrade():
    _reword(2, 1)
