"""Turns an alert into messages: routing, rendering and delivery. Knows nothing of sources."""

from alerts.channels import SEND_LIMIT, Channel, Envelope, MaildirChannel, Receipt, SmtpChannel, SmtpSettings, build_email, new_message_id
from alerts.errors import DeliveryError, Refusal, Rejected
from alerts.model import Alert, AlertCase, AlertPost, AlertStep, Brief, Severity
from alerts.render import Rendered, Renderer
from alerts.retry import next_attempt
from alerts.routing import Route, routes_for

__all__ = [
    "SEND_LIMIT",
    "Alert",
    "AlertCase",
    "AlertPost",
    "AlertStep",
    "Brief",
    "Channel",
    "DeliveryError",
    "Envelope",
    "MaildirChannel",
    "Receipt",
    "Refusal",
    "Rejected",
    "Rendered",
    "Renderer",
    "Route",
    "Severity",
    "SmtpChannel",
    "SmtpSettings",
    "build_email",
    "new_message_id",
    "next_attempt",
    "routes_for",
]
