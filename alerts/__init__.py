"""Turns an alert into messages: routing, rendering and delivery. Knows nothing of sources."""

from .channels import Channel, Envelope, MaildirChannel, Receipt, SmtpChannel, SmtpSettings, build_email, new_message_id
from .errors import DeliveryError, Refusal, Rejected
from .model import Alert, AlertCase, AlertPost, AlertStep, Severity
from .render import Rendered, Renderer
from .retry import next_attempt
from .routing import Route, routes_for

__all__ = [
    "Alert",
    "AlertCase",
    "AlertPost",
    "AlertStep",
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
