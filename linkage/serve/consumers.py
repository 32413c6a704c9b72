"""Consumers: who may call the service, with which token, seeing which sources.

A token is the value of the environment variable the config names (`token_env`), read once
when the service starts. A presented token is compared with every consumer's in constant
time (`hmac.compare_digest`), so neither timing nor the order of the config says which
one nearly matched. Tokens are never logged, printed or stored.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from linkage.config import RunConfig
from linkage.errors import ConfigError

MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Consumer:
    name: str
    sources: tuple[str, ...]
    token: bytes = field(repr=False)


def load_consumers(config: RunConfig, environ: Mapping[str, str] | None = None) -> list[Consumer]:
    """The config's consumers with their tokens; a ConfigError when there are none or a
    token's variable is unset or too short (names the variable, never its value)."""
    environ = os.environ if environ is None else environ
    if not config.consumers:
        raise ConfigError(f"{config.config_path}: no `consumers` in the config; the service "
                          "answers only consumers with a token (see the README)")
    consumers = []
    for consumer in config.consumers:
        token = environ.get(consumer.token_env, "")
        if not token:
            raise ConfigError(f"consumer {consumer.name}: environment variable "
                              f"{consumer.token_env} is not set")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"consumer {consumer.name}: the token in {consumer.token_env} "
                              f"is shorter than {MIN_TOKEN_LENGTH} characters")
        consumers.append(Consumer(consumer.name, config.visible_sources(consumer),
                                  token.encode("utf-8")))
    tokens = [consumer.token for consumer in consumers]
    if len(set(tokens)) != len(tokens):
        raise ConfigError(f"{config.config_path}: two consumers share a token; give each "
                          "its own")
    return consumers


def authenticate(consumers: list[Consumer], authorization: str | None) -> Consumer | None:
    """The consumer whose token the `Authorization: Bearer <token>` header carries, or None.
    Every consumer's token is compared, whichever matches."""
    if not authorization:
        return None
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    presented_bytes = presented.strip().encode("utf-8")
    found = None
    for consumer in consumers:
        if hmac.compare_digest(consumer.token, presented_bytes):
            found = consumer
    return found
