"""curl's --resolve for Scrapy: the sandbox world's host names map to 127.0.0.1, as the
`resolve` entries of the world's audit.toml do for dvc-audit (no /etc/hosts edits)."""

from __future__ import annotations

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer

# host -> address, filled in by crawl.py before the crawl starts.
RESOLVE: dict[str, str] = {}


class SandboxResolver(CachingThreadedResolver):
    def getHostByName(self, name, timeout=()):  # noqa: N802 (Twisted's name)
        addr = RESOLVE.get(name)
        if addr is not None:
            return defer.succeed(addr)
        return super().getHostByName(name, timeout)
