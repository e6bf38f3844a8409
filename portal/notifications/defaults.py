"""Default words of every notification, in English and Hindi; admins edit copies in the database.

Each entry is (subject, body) per channel. Bodies are Jinja templates rendered in a sandbox with
the variables of `portal.notifications.context` ({{ doctor_name }}, {{ start }}...).
EMAIL bodies are plain text; the HTML part wraps them in the clinic's email layout.

SMS and push words name no doctor, specialty or reason (minimum necessary: they are read on
locked screens and shared phones): the time and a link to the portal, where the details are
behind the login. `templates.minimum_necessary` empties those variables on those channels
anyway, so an edited template cannot bring them back.
"""

from __future__ import annotations

E, S, P, A = "EMAIL", "SMS", "PUSH", "IN_APP"

EN: dict[str, dict[str, tuple[str, str]]] = {
    "APPOINTMENT_RESERVED": {
        A: ("Slot held", "You are holding {{ start }} with {{ doctor_name }} until "
                         "{{ hold_until }}. Complete the booking before then."),
    },
    "APPOINTMENT_CONFIRMED": {
        E: ("Your appointment with {{ doctor_name }} is confirmed",
            "Hello {{ patient_name }},\n\nYour {{ consultation_label }} consultation with "
            "{{ doctor_name }} ({{ specialty }}) is confirmed for {{ start }} ({{ timezone }})."
            "\n{% if is_video %}\nJoin the video call from your appointment page, from ten minutes "
            "before the start: {{ appointment_url }}\n{% endif %}\n"
            "The calendar invitation is attached. You can see, move or cancel the appointment "
            "here: {{ appointment_url }}\n\n{{ clinic_name }}"),
        S: ("", "Your appointment at {{ clinic_name }} on {{ start }} is confirmed. Details: "
                "{{ appointment_url }}"),
        P: ("Appointment confirmed", "Your appointment on {{ start }} is confirmed."),
        A: ("Appointment confirmed", "Your appointment with {{ doctor_name }} on {{ start }} is "
                                     "confirmed."),
    },
    "APPOINTMENT_CANCELLED": {
        E: ("Your appointment with {{ doctor_name }} is cancelled",
            "Hello {{ patient_name }},\n\nYour appointment with {{ doctor_name }} on {{ start }} "
            "has been cancelled{% if reason %} ({{ reason }}){% endif %}.\n"
            "{% if refund_amount %}\n{{ refund_amount }} will be refunded to your original "
            "payment method within 5-7 working days.\n{% endif %}\n"
            "Book another time: {{ doctor_url }}\n\n{{ clinic_name }}"),
        S: ("", "Your appointment at {{ clinic_name }} on {{ start }} is cancelled."
                "{% if refund_amount %} Refund: {{ refund_amount }}.{% endif %} Details: "
                "{{ appointment_url }}"),
        P: ("Appointment cancelled", "Your appointment on {{ start }} is cancelled."),
        A: ("Appointment cancelled", "Your appointment with {{ doctor_name }} on {{ start }} was "
                                     "cancelled.{% if refund_amount %} Refund: "
                                     "{{ refund_amount }}.{% endif %}"),
    },
    "APPOINTMENT_RESCHEDULED": {
        E: ("Your appointment has moved to {{ start }}",
            "Hello {{ patient_name }},\n\nYour appointment with {{ doctor_name }} has moved from "
            "{{ old_start }} to {{ start }} ({{ timezone }}). The updated calendar invitation is "
            "attached.\n\n{{ appointment_url }}\n\n{{ clinic_name }}"),
        S: ("", "Your appointment at {{ clinic_name }} has moved to {{ start }}. Details: "
                "{{ appointment_url }}"),
        P: ("Appointment moved", "Your appointment is now on {{ start }}."),
        A: ("Appointment moved", "Your appointment with {{ doctor_name }} moved to {{ start }}."),
    },
    "APPOINTMENT_REMINDER": {
        E: ("Reminder: {{ doctor_name }} {{ when }}",
            "Hello {{ patient_name }},\n\nA reminder of your {{ consultation_label }} "
            "consultation with {{ doctor_name }} {{ when }}, at {{ start }} ({{ timezone }})."
            "\n{% if is_video %}\nJoin the video call from your appointment page, from ten minutes "
            "before the start: {{ appointment_url }}\n{% endif %}\n"
            "{{ appointment_url }}\n\n{{ clinic_name }}"),
        S: ("", "Reminder: your appointment at {{ clinic_name }} is {{ when }}, on {{ start }}. "
                "Details: {{ appointment_url }}"),
        P: ("Appointment {{ when }}", "At {{ clinic_name }}, {{ start }}"),
        A: ("Reminder", "Your appointment with {{ doctor_name }} is {{ when }} ({{ start }})."),
    },
    "PAYMENT_RECEIPT": {
        E: ("Receipt for your payment of {{ amount }}",
            "Hello {{ patient_name }},\n\nWe received {{ amount }} (including GST of {{ tax }}) "
            "for your appointment with {{ doctor_name }} on {{ start }}.\n\nPayment id: "
            "{{ gateway_payment_id }}\nReceipt: {{ receipt_url }}\n\n{{ clinic_name }}"),
        A: ("Payment received", "We received {{ amount }} for your appointment with "
                                "{{ doctor_name }}."),
    },
    "PAYMENT_FAILED": {
        E: ("Your payment did not go through",
            "Hello {{ patient_name }},\n\nThe payment for your appointment with {{ doctor_name }} "
            "on {{ start }} did not go through{% if error %} ({{ error }}){% endif %}. Nothing was "
            "charged. You can try again while your hold lasts, until {{ hold_until }}: "
            "{{ appointment_url }}\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }}: your payment failed. Retry before {{ hold_until }}: "
                "{{ appointment_url }}"),
        A: ("Payment failed", "Your payment did not go through. Try again before "
                              "{{ hold_until }}."),
    },
    "PAYMENT_LINK": {
        E: ("Pay {{ amount }} for your appointment with {{ doctor_name }}",
            "Hello {{ patient_name }},\n\nHere is the link to pay {{ amount }} for your "
            "{{ consultation_label }} consultation with {{ doctor_name }} on {{ start }} "
            "({{ timezone }}):\n\n{{ link_url }}\n\nThe link works until {{ link_expires }}; "
            "your appointment is confirmed as soon as you have paid.\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }}: pay {{ amount }} for your appointment on {{ start }}: "
                "{{ link_url }} (until {{ link_expires }})"),
        A: ("Payment link sent", "Pay {{ amount }} for your appointment with {{ doctor_name }} "
                                 "by {{ link_expires }}: {{ link_url }}"),
    },
    "REFUND_INITIATED": {
        E: ("Refund of {{ refund_amount }} started",
            "Hello {{ patient_name }},\n\nWe have started a refund of {{ refund_amount }} for your "
            "appointment with {{ doctor_name }} on {{ start }}{% if reason %} ({{ reason }})"
            "{% endif %}. It reaches your original payment method within 5-7 working days.\n\n"
            "{{ clinic_name }}"),
        A: ("Refund started", "A refund of {{ refund_amount }} has been started."),
    },
    "REFUND_COMPLETED": {
        E: ("Refund of {{ refund_amount }} completed",
            "Hello {{ patient_name }},\n\nYour refund of {{ refund_amount }} has been processed."
            "\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }}: your refund of {{ refund_amount }} has been processed."),
        A: ("Refund completed", "Your refund of {{ refund_amount }} has been processed."),
    },
    "DOCTOR_NEW_BOOKING": {
        E: ("New booking: {{ patient_name }}, {{ start }}",
            "{{ patient_name }} booked a {{ consultation_label }} consultation on {{ start }} "
            "({{ timezone }}).{% if visit_reason %}\nReason for the visit: {{ visit_reason }}"
            "{% endif %}\n\n{{ practice_url }}"),
        A: ("New booking", "{{ patient_name }} booked {{ start }}."),
    },
    "DOCTOR_BOOKING_CANCELLED": {
        E: ("Cancelled: {{ patient_name }}, {{ start }}",
            "The appointment of {{ patient_name }} on {{ start }} ({{ timezone }}) was cancelled."
            "\n\n{{ practice_url }}"),
        A: ("Booking cancelled", "{{ patient_name }} on {{ start }} was cancelled."),
    },
    "DOCTOR_BOOKING_MOVED": {
        E: ("Moved: {{ patient_name }} to {{ start }}",
            "{{ patient_name }} moved their appointment from {{ old_start }} to {{ start }} "
            "({{ timezone }}).\n\n{{ practice_url }}"),
        A: ("Booking moved", "{{ patient_name }} moved from {{ old_start }} to {{ start }}."),
    },
    "WAITLIST_OFFER": {
        E: ("A time with {{ doctor_name }} is free: {{ start }}",
            "Hello {{ patient_name }},\n\nA time you were waiting for has come free: "
            "{{ doctor_name }} on {{ start }} ({{ timezone }}).\n\nTake it before "
            "{{ offer_until }}; the first to take it gets it:\n{{ offer_url }}\n\n"
            "If it does not suit, do nothing: you stay on the waitlist.\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }}: a time you wanted is free ({{ start }}). Take it before "
                "{{ offer_until }}: {{ offer_url }}"),
        P: ("A time is free: {{ start }}", "Take it before {{ offer_until }}"),
        A: ("A time is free", "{{ doctor_name }}, {{ start }}. Take it before "
                              "{{ offer_until }}."),
    },
    "WAITLIST_GONE": {
        P: ("That time has gone", "Someone took {{ start }} first; you stay on the waitlist."),
        A: ("That time has gone", "Someone took {{ start }} with {{ doctor_name }} first. You "
                                  "stay on the waitlist."),
    },
    "RUNNING_LATE": {
        S: ("", "{{ clinic_name }}: your doctor is running about {{ minutes }} minutes late "
                "today.{% if note %} {{ note }}{% endif %} Your place in the queue is kept."),
        P: ("Running late", "Your doctor is about {{ minutes }} minutes late today."),
        A: ("Running late", "{{ doctor_name }} is running about {{ minutes }} minutes late "
                            "today.{% if note %} {{ note }}{% endif %} Your place in the queue "
                            "is kept."),
    },
    "ANNOUNCEMENT": {
        E: ("{{ title }}", "{{ message }}\n\n{{ clinic_name }}"),
        S: ("", "{{ message }}"),
        P: ("{{ title }}", "{{ message }}"),
        A: ("{{ title }}", "{{ message }}"),
    },
}

HI: dict[str, dict[str, tuple[str, str]]] = {
    "WAITLIST_OFFER": {
        E: ("{{ doctor_name }} के साथ एक समय खाली हुआ है: {{ start }}",
            "नमस्ते {{ patient_name }},\n\nआप जिस समय का इंतज़ार कर रहे थे, वह खाली हुआ है: "
            "{{ doctor_name }}, {{ start }} ({{ timezone }}).\n\n{{ offer_until }} से पहले ले "
            "लीजिए; जो पहले लेगा, उसे मिलेगा:\n{{ offer_url }}\n\nअगर यह समय ठीक नहीं है, तो "
            "कुछ न करें: आप प्रतीक्षा सूची में बने रहेंगे।\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }}: आपका चाहा समय खाली है ({{ start }})। {{ offer_until }} से "
                "पहले लें: {{ offer_url }}"),
        P: ("समय खाली है: {{ start }}", "{{ offer_until }} से पहले लें"),
        A: ("समय खाली है", "{{ doctor_name }}, {{ start }}। {{ offer_until }} से पहले लें।"),
    },
    "WAITLIST_GONE": {
        P: ("वह समय चला गया", "{{ start }} किसी और ने पहले ले लिया; आप प्रतीक्षा सूची में हैं।"),
        A: ("वह समय चला गया", "{{ doctor_name }} के साथ {{ start }} किसी और ने पहले ले लिया। आप "
                             "प्रतीक्षा सूची में बने रहेंगे।"),
    },
    "RUNNING_LATE": {
        S: ("", "{{ clinic_name }}: आपके डॉक्टर आज लगभग {{ minutes }} मिनट देर से चल रहे हैं।"
                "{% if note %} {{ note }}{% endif %} कतार में आपकी जगह बनी रहेगी।"),
        P: ("देरी", "आपके डॉक्टर आज लगभग {{ minutes }} मिनट देर से हैं।"),
        A: ("देरी", "{{ doctor_name }} आज लगभग {{ minutes }} मिनट देर से चल रहे हैं।"
                    "{% if note %} {{ note }}{% endif %} कतार में आपकी जगह बनी रहेगी।"),
    },
    "APPOINTMENT_CONFIRMED": {
        E: ("{{ doctor_name }} के साथ आपकी अपॉइंटमेंट पक्की हो गई है",
            "नमस्ते {{ patient_name }},\n\n{{ doctor_name }} ({{ specialty }}) के साथ आपकी "
            "{{ consultation_label }} परामर्श {{ start }} ({{ timezone }}) के लिए पक्की हो गई है।"
            "\n{% if is_video %}\nशुरू होने से दस मिनट पहले से अपनी अपॉइंटमेंट के पेज से वीडियो कॉल से "
            "जुड़ें: {{ appointment_url }}\n{% endif %}\n"
            "कैलेंडर निमंत्रण संलग्न है। अपॉइंटमेंट देखें, बदलें या रद्द करें: "
            "{{ appointment_url }}\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }} में {{ start }} की आपकी अपॉइंटमेंट पक्की हो गई है। विवरण: "
                "{{ appointment_url }}"),
        P: ("अपॉइंटमेंट पक्की", "{{ start }} की आपकी अपॉइंटमेंट पक्की हो गई है।"),
        A: ("अपॉइंटमेंट पक्की", "{{ doctor_name }} के साथ {{ start }} की आपकी अपॉइंटमेंट पक्की है।"),
    },
    "APPOINTMENT_CANCELLED": {
        E: ("{{ doctor_name }} के साथ आपकी अपॉइंटमेंट रद्द हो गई है",
            "नमस्ते {{ patient_name }},\n\n{{ doctor_name }} के साथ {{ start }} की आपकी अपॉइंटमेंट "
            "रद्द कर दी गई है।{% if refund_amount %}\n{{ refund_amount }} 5-7 कार्य दिवसों में "
            "लौटा दिए जाएंगे।{% endif %}\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }} में {{ start }} की आपकी अपॉइंटमेंट रद्द हो गई है।"
                "{% if refund_amount %} {{ refund_amount }} लौटा दिए जाएंगे।{% endif %} विवरण: "
                "{{ appointment_url }}"),
        P: ("अपॉइंटमेंट रद्द", "{{ start }} की आपकी अपॉइंटमेंट रद्द हो गई है।"),
        A: ("अपॉइंटमेंट रद्द", "{{ doctor_name }} के साथ {{ start }} की अपॉइंटमेंट रद्द हो गई है।"),
    },
    "APPOINTMENT_RESCHEDULED": {
        E: ("आपकी अपॉइंटमेंट {{ start }} पर बदल दी गई है",
            "नमस्ते {{ patient_name }},\n\n{{ doctor_name }} के साथ आपकी अपॉइंटमेंट {{ old_start }} "
            "से {{ start }} पर बदल दी गई है। नया कैलेंडर निमंत्रण संलग्न है।\n\n{{ clinic_name }}"),
        S: ("", "{{ clinic_name }} में आपकी अपॉइंटमेंट अब {{ start }} पर है। विवरण: "
                "{{ appointment_url }}"),
        P: ("अपॉइंटमेंट बदली", "आपकी अपॉइंटमेंट अब {{ start }} पर है।"),
        A: ("अपॉइंटमेंट बदली", "आपकी अपॉइंटमेंट अब {{ start }} पर है।"),
    },
    "APPOINTMENT_REMINDER": {
        E: ("याद दिलाना: {{ doctor_name }} {{ when }}",
            "नमस्ते {{ patient_name }},\n\n{{ doctor_name }} के साथ आपकी परामर्श {{ start }} "
            "({{ timezone }}) पर है।{% if is_video %}\nवीडियो कॉल: {{ appointment_url }}{% endif %}"
            "\n\n{{ clinic_name }}"),
        S: ("", "याद दिलाना: {{ clinic_name }} में आपकी अपॉइंटमेंट {{ when }} है, {{ start }} पर। "
                "विवरण: {{ appointment_url }}"),
        P: ("अपॉइंटमेंट {{ when }}", "{{ clinic_name }}, {{ start }}"),
        A: ("याद दिलाना", "{{ doctor_name }} के साथ आपकी अपॉइंटमेंट {{ start }} पर है।"),
    },
    "PAYMENT_RECEIPT": {
        E: ("{{ amount }} के भुगतान की रसीद",
            "नमस्ते {{ patient_name }},\n\n{{ doctor_name }} के साथ {{ start }} की अपॉइंटमेंट के "
            "लिए हमें {{ amount }} (जीएसटी {{ tax }} सहित) प्राप्त हुए।\n\nभुगतान आईडी: "
            "{{ gateway_payment_id }}\nरसीद: {{ receipt_url }}\n\n{{ clinic_name }}"),
        A: ("भुगतान प्राप्त", "हमें {{ amount }} प्राप्त हुए।"),
    },
    "PAYMENT_FAILED": {
        E: ("आपका भुगतान नहीं हो पाया",
            "नमस्ते {{ patient_name }},\n\nआपका भुगतान नहीं हो पाया; कोई राशि नहीं काटी गई। "
            "{{ hold_until }} तक फिर से प्रयास करें: {{ appointment_url }}\n\n{{ clinic_name }}"),
        A: ("भुगतान विफल", "{{ hold_until }} तक फिर से प्रयास करें।"),
    },
    "PAYMENT_LINK": {
        E: ("{{ doctor_name }} के साथ अपॉइंटमेंट के लिए {{ amount }} का भुगतान करें",
            "नमस्ते {{ patient_name }},\n\n{{ doctor_name }} के साथ {{ start }} ({{ timezone }}) की "
            "आपकी अपॉइंटमेंट के लिए {{ amount }} का भुगतान इस लिंक से करें:\n\n{{ link_url }}\n\n"
            "लिंक {{ link_expires }} तक चलेगा; भुगतान होते ही आपकी अपॉइंटमेंट पक्की हो जाएगी।\n\n"
            "{{ clinic_name }}"),
        S: ("", "{{ clinic_name }}: {{ start }} की अपॉइंटमेंट के लिए {{ amount }} का भुगतान करें: "
                "{{ link_url }} ({{ link_expires }} तक)"),
        A: ("भुगतान लिंक भेजा गया", "{{ link_expires }} तक {{ amount }} का भुगतान करें: "
                                    "{{ link_url }}"),
    },
    "REFUND_INITIATED": {
        E: ("{{ refund_amount }} की वापसी शुरू",
            "नमस्ते {{ patient_name }},\n\n{{ refund_amount }} की वापसी शुरू कर दी गई है; यह 5-7 "
            "कार्य दिवसों में आपके खाते में पहुंचेगी।\n\n{{ clinic_name }}"),
        A: ("वापसी शुरू", "{{ refund_amount }} की वापसी शुरू हो गई है।"),
    },
    "REFUND_COMPLETED": {
        E: ("{{ refund_amount }} की वापसी पूरी",
            "नमस्ते {{ patient_name }},\n\n{{ refund_amount }} की वापसी पूरी हो गई है।\n\n"
            "{{ clinic_name }}"),
        A: ("वापसी पूरी", "{{ refund_amount }} की वापसी पूरी हो गई है।"),
    },
}

DEFAULTS: dict[str, dict[str, dict[str, tuple[str, str]]]] = {"en": EN, "hi": HI}
LANGUAGES = {"en": "English", "hi": "हिन्दी (Hindi)"}


def default_template(kind: str, channel: str, language: str) -> tuple[str, str] | None:
    """The built-in words; Hindi falls back to English where a type has no translation."""
    for lang in (language, "en"):
        found = DEFAULTS.get(lang, {}).get(kind, {}).get(channel)
        if found is not None:
            return found
    return None
