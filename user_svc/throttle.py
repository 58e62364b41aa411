"""Wrong passwords slow sign-in down, per account, per client IP and per pair of both.

Only failures cost: before a password is checked, each of three GCRA keys (mesh.ratelimit) must
have room for one more failure; a wrong password then takes a unit from each, a right one gives
the (account, IP) pair its burst back. So:

- one address guessing one account gets a few tries, then one per interval (5 per 5 min: one a
  minute);
- one address guessing many accounts is slowed by its own key (50 per 5 min);
- many addresses guessing one account are slowed by the account's key (30 per 10 min: one every
  20 s) - and that is also the most an attacker can hold a victim back: the account's key frees
  a unit every interval, so the victim's right password waits at most that long (the answer's
  Retry-After says how long), and never for the attacker's whole campaign.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from mesh.errors import ResourceExhausted
from mesh.ratelimit import Limiter, Rate


@dataclass(frozen=True)
class FailureRates:
    """How many wrong passwords each key may take, and how fast they come back."""

    account_ip: Rate
    ip: Rate
    account: Rate


class LoginThrottle:
    """The sign-in rules of failures: check before, count after."""

    def __init__(self, limiter: Limiter, rates: FailureRates) -> None:
        self._limiter = limiter
        self._rates = rates

    def _keys(self, account: str, ip: str) -> list[tuple[str, Rate]]:
        # Hashed: keys in Redis name no account and no address.
        a = hashlib.blake2s(account.casefold().encode(), digest_size=12).hexdigest()
        i = hashlib.blake2s(ip.encode(), digest_size=12).hexdigest()
        keys = [(f"login:a:{a}", self._rates.account)]
        if ip:
            keys += [
                (f"login:ai:{a}:{i}", self._rates.account_ip),
                (f"login:i:{i}", self._rates.ip),
            ]
        return keys

    async def check(self, *, account: str, ip: str) -> None:
        """Raise ResourceExhausted (LOGIN_THROTTLED, with retry_after_seconds) when a key has no
        room for another failure."""
        wait = 0.0
        for key, rate in self._keys(account, ip):
            decision = await self._limiter.peek(key, rate)
            if not decision.allowed:
                wait = max(wait, decision.retry_after)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ResourceExhausted(
                f"too many failed sign-ins; try again in {seconds} s",
                reason="LOGIN_THROTTLED",
                metadata={"retry_after_seconds": str(seconds)},
            )

    async def failed(self, *, account: str, ip: str) -> None:
        """Count a wrong password against every key."""
        for key, rate in self._keys(account, ip):
            await self._limiter.hit(key, rate)

    async def succeeded(self, *, account: str, ip: str) -> None:
        """Give the (account, IP) pair its tries back: its owner is at the keyboard."""
        keys = self._keys(account, ip)
        if len(keys) > 1:
            await self._limiter.reset(keys[1][0])
