"""Uploaded images: decoded and re-encoded without metadata (`images`), kept as files under
MEDIA_ROOT (`storage`) and served from /media with year-long cache headers (`views`).

Nothing here knows about doctors or who may upload what: `portal.doctors.photos` holds those
rules and calls these functions.
"""
