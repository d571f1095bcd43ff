"""The password-guessing throttle shared by every place that takes a password (the OAuth login form,
the password grant, the website's sign-in form): failed logins per client IP and per login name over a
sliding window, kept in memory per process so no table grows with attacks."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

from starlette.requests import Request


class LoginThrottle:
    """Failed logins per client IP and per login name over a sliding window (per process): enough to
    make password guessing slow without any table."""

    def __init__(self, per_login: int = 10, per_ip: int = 50, window: float = 900.0, max_keys: int = 50_000) -> None:
        self.limits = {"login": per_login, "ip": per_ip}
        self.window = window
        self.max_keys = max_keys
        self.failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def keys(ip: str, login: str) -> list[tuple[str, str]]:
        return [("ip", f"ip:{ip}"), ("login", f"login:{login.strip().lower()}")]

    def blocked(self, ip: str, login: str) -> bool:
        now = time.monotonic()
        for kind, key in self.keys(ip, login):
            times = self.failures.get(key)
            while times and times[0] < now - self.window:
                times.popleft()
            if times and len(times) >= self.limits[kind]:
                return True
        return False

    def failed(self, ip: str, login: str) -> None:
        now = time.monotonic()
        for _kind, key in self.keys(ip, login):
            self.failures.setdefault(key, deque(maxlen=100)).append(now)
            self.failures.move_to_end(key)
        while len(self.failures) > self.max_keys:
            self.failures.popitem(last=False)


def throttle_of(request: Request) -> LoginThrottle:
    """The app's one throttle, so failures on the website and in the OAuth pages count together."""
    throttle = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"
