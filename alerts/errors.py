"""Delivery errors. smtplib/OS errors never escape ``alerts/`` raw.

    DeliveryError        a message was not delivered; ``retryable`` says if trying later helps
"""

from __future__ import annotations


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
