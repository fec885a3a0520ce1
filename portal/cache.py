"""Django's Redis cache, keeping one redis-py client per connection pool, and clearing
only its own keys.

Django builds a new ``redis.Redis`` object on every cache call; building one sets up its
response-callback table, which costs more than the GET of a cached slice itself.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        base: Any = self  # Django's client class is untyped in django-stubs
        index = base._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:  # redis-py clients are thread-safe; the pool does the locking
            client = self._clients[index] = base._client(
                connection_pool=base._get_connection_pool(write)
            )
        return client


class PortalRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient

    def clear(self) -> None:
        """Delete this cache's keys only. Django's ``clear()`` flushes the whole Redis
        database, which would also empty the Celery broker's queues and another process's
        cache sharing it (another prefix: a second portal, a parallel test worker)."""
        client = self._cache.get_client(None, write=True)
        batch: list[Any] = []
        for key in client.scan_iter(match=f"{self.key_prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
