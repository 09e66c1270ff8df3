"""Tickets: the desk that opens, joins and raises them, what people do to them, playbooks, cases, silences."""
