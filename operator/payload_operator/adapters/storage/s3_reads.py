"""The connection settings of S3 object reads, taken from the botocore client they sit beside.

Why: reads bypass botocore (see sigv4.py), so everything botocore would have done for them must come
from the same configuration: the CA bundle (`AWS_CA_BUNDLE`, `ca_bundle` in the AWS config,
`REQUESTS_CA_BUNDLE`), proxies (`Config(proxies=...)` or `HTTPS_PROXY`/`NO_PROXY`), timeouts, pool size
and the retry budget. A private-CA store would otherwise fail every read while every botocore call works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import urllib3
from botocore.httpsession import ProxyConfiguration, get_cert_path
from botocore.utils import get_environ_proxies

from payload_operator.adapters.storage.quickack import pool_manager, proxy_manager

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""What botocore's standard retry mode retries by status (503 is S3's SlowDown)."""
BACKOFF_SECONDS = 0.5
BACKOFF_JITTER_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 20.0  # botocore's standard mode caps its backoff at 20 s too


def resolve_verify(botocore_session: Any) -> bool | str:
    """What botocore verifies TLS against when a client is made without `verify`: the `ca_bundle`
    setting (AWS_CA_BUNDLE or the config file), else REQUESTS_CA_BUNDLE, else its default bundle."""
    ca_bundle: str | None = botocore_session.get_config_variable("ca_bundle")
    return ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or True


@dataclass(frozen=True)
class ReadSettings:
    """TLS, proxies, timeouts, pool size and retries of reads; `verify` as botocore takes it."""

    verify: bool | str
    connect_timeout: float
    read_timeout: float
    max_connections: int
    attempts: int
    proxies: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_client(cls, client: Any, verify: bool | str, attempts: int) -> ReadSettings:
        """The settings of `client` (made with `verify`): its merged Config, and proxies as its endpoint got them."""
        config = client.meta.config
        proxies = config.proxies if config.proxies is not None else get_environ_proxies(client.meta.endpoint_url)
        return cls(
            verify=verify,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            max_connections=config.max_pool_connections,
            attempts=attempts,
            proxies=dict(proxies),
        )

    def retries(self) -> urllib3.Retry:
        """The first try plus `attempts - 1` retries on connection errors and throttling or server statuses,
        with jittered exponential backoff. Retry-After is not obeyed: a hostile value could stall a read forever."""
        budget = self.attempts - 1
        return urllib3.Retry(
            total=budget,
            connect=budget,
            read=budget,
            status=budget,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=BACKOFF_SECONDS,
            backoff_jitter=BACKOFF_JITTER_SECONDS,
            backoff_max=BACKOFF_MAX_SECONDS,
            respect_retry_after_header=False,
            raise_on_status=False,  # the last answer is judged like any other (SlowDown -> throttled)
            raise_on_redirect=False,
        )

    def pool_manager(self, origin: str) -> urllib3.PoolManager:
        """A quick-ack connection manager for `origin`: direct, or through the proxy botocore would use."""
        options: dict[str, Any] = {
            "maxsize": self.max_connections,
            "timeout": urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout),
            "retries": self.retries(),
            **_tls_options(self.verify),
        }
        proxies = ProxyConfiguration(proxies=self.proxies)
        proxy_url = proxies.proxy_url_for(origin)
        if not proxy_url:
            return pool_manager(**options)
        return proxy_manager(proxy_url, proxy_headers=proxies.proxy_headers_for(proxy_url), **options)


def _tls_options(verify: bool | str) -> dict[str, Any]:
    """urllib3's options for botocore's `verify`: False, True (botocore's bundle) or a CA file or directory."""
    if verify is False:
        return {"cert_reqs": "CERT_NONE"}
    path = get_cert_path(verify)
    if os.path.isdir(path):
        return {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": path}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": path}
