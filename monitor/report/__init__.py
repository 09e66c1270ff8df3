"""Reports: management's digest, built and scheduled.

``queries.build_report`` reads the numbers of a period from the database into a frozen
``data.ReportData``; ``render.render_report`` turns them into a subject, a plain-text body,
an HTML body and the trend chart (``chart``); ``render.make_report`` does both. They are
separate so the numbers can be tested without rendering, and so one ``ReportData`` can be
rendered for a file or for an email. ``stats`` is the arithmetic (SLA outcomes, medians,
local days) and ``digest`` schedules the report as a message.

Nothing is imported here: the daemon imports ``digest`` at start, and the rest (jinja2's
templates, matplotlib) loads only when a report is made.
"""
