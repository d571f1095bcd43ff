"""The one outbound HTTP client of the server, built for talking to untrusted remote servers.

Every URL we fetch comes from somebody else's JSON (actor ids, inboxes, redirects, attachments),
so a naive client is a server-side request forgery tool: a remote actor could make us call our
own admin port, the cloud metadata service or a database on the private network. The defences:

* a URL policy (scheme, no userinfo, normalised host, length) checked before the first request
  and again on every redirect hop, since redirects are followed by hand;
* an address policy enforced *inside* the DNS resolver, so the address that is checked is the
  address that is connected to (no DNS-rebinding window between check and connect), and on IP
  literals, which aiohttp never sends through the resolver;
* hard caps on time, body size and JSON nesting, so a hostile server cannot pin a worker or
  exhaust memory.

Errors surface as a single `FetchError` that says whether retrying can help (`permanent`) and
how long the remote asked us to wait (`retry_after`), which is what delivery queues need.

The package: `addresses` (the URL and address policy, and the resolver that enforces it),
`responses` (reading answers within the caps), `client` (`HttpClient`) and `errors`.
"""

from __future__ import annotations

from fediverse.http.addresses import AddressPolicy, SafeResolver, is_private_address, normalise_host
from fediverse.http.client import AS_ACCEPT, HttpClient
from fediverse.http.errors import FetchError
from fediverse.http.responses import JSON_CONTENT_TYPES, is_permanent_status, json_too_deep, parse_retry_after

__all__ = [
    "AS_ACCEPT",
    "JSON_CONTENT_TYPES",
    "AddressPolicy",
    "FetchError",
    "HttpClient",
    "SafeResolver",
    "is_permanent_status",
    "is_private_address",
    "json_too_deep",
    "normalise_host",
    "parse_retry_after",
]
