"""Polite HTTP for every source, in one place.

Every source is handed a ``PoliteHttp``; none builds its own client. It applies the
manners a platform expects from a well-behaved poller: a User-Agent that names us, a
connect/read timeout *and* one deadline on the whole request, headers included (a server
that drips one byte a second must not hold a worker; see ``httpdeadline``), a cap on
the body that holds layer by layer *while* it is decompressed (13 kB of ``gzip, gzip``
would otherwise inflate to 8 GiB before any check), conditional GET
(ETag / Last-Modified) with "unchanged" detection by content hash, a per-host
concurrency limit, honouring 429/503 ``Retry-After``, and exponential backoff with
jitter after failures, reset on success. Errors leave as ``sources.errors`` types.

One job per private module, the names other code uses re-exported here: ``_config`` (the
policy, a typed value with safe defaults), ``_polite`` (``PoliteHttp``: gates, backoff,
per-host slots, conditional GET, secrets, errors translated), ``_transport`` (the shared
client, with ``httpdeadline``'s one deadline on a whole request), ``_decode`` (the body's
codings undone under the cap). What a platform's Retry-After means is ``retryafter``'s
answer, shared with alerts' sends and re-exported here.
"""

from retryafter import RETRY_AFTER_CEILING, parse_retry_after
from sources.http._config import USER_AGENT, HttpPolicy
from sources.http._decode import MAX_CODINGS
from sources.http._polite import BackingOff, Fetched, PoliteHttp, backoff_delay
from sources.http._transport import MAX_REDIRECTS, new_client

__all__ = [
    "MAX_CODINGS",
    "MAX_REDIRECTS",
    "RETRY_AFTER_CEILING",
    "USER_AGENT",
    "BackingOff",
    "Fetched",
    "HttpPolicy",
    "PoliteHttp",
    "backoff_delay",
    "new_client",
    "parse_retry_after",
]
