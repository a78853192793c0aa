"""The token bucket's change of rate, and the watch that tells live senders from dead ones."""

from __future__ import annotations

import pytest

from core.pacing import PeerWatch, TokenBucket


class Clock:
    """Time stands still; each sleep asked for is recorded."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_a_new_rate_keeps_the_turns_already_given_and_spaces_the_next_ones() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 1, clock, clock.sleep)
    assert bucket.try_take()
    await bucket.take()
    await bucket.take()
    assert clock.slept == pytest.approx([0.1, 0.2])  # two turns given, a tenth of a second apart
    bucket.set_rate(5, 1)  # the two keep their turns; the next comes a fifth of a second after them
    await bucket.take()
    assert clock.slept[-1] == pytest.approx(0.2 + 0.2)
    clock.t = 10.0
    bucket.set_rate(20, 1)
    assert bucket.tokens == 1  # tokens saved meanwhile never pass the new burst
    bucket.set_rate(20, 30)
    assert bucket.tokens == 1  # nor does a larger burst make up tokens


def test_a_bad_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(10, 1).set_rate(0, 1)


def test_a_peer_lives_while_its_count_moves_and_dies_when_it_stands_for_the_timeout() -> None:
    watch = PeerWatch(timeout=15)
    assert watch.look([("a", 1), ("b", 7)], now=100) == (["a", "b"], [])  # first seen: alive
    assert watch.look([("a", 2), ("b", 7)], now=105) == (["a", "b"], [])
    assert watch.look([("a", 3), ("b", 7)], now=114.9) == (["a", "b"], [])
    assert watch.look([("a", 4), ("b", 7)], now=115) == (["a"], [("b", 7)])  # b stood 15 s
    assert watch.look([("a", 4)], now=125) == (["a"], [])  # a stands 10 s: late, not dead
    assert watch.look([("a", 4), ("b", 8)], now=126) == (["a", "b"], [])
    assert watch.look([("a", 4), ("b", 8)], now=130) == (["b"], [("a", 4)])  # a stood 15 s


def test_a_peer_that_comes_back_is_seen_afresh() -> None:
    watch = PeerWatch(timeout=15)
    watch.look([("b", 7)], now=0)
    assert watch.look([], now=20) == ([], [])  # its row was removed: forgotten
    assert watch.look([("b", 1)], now=21) == (["b"], [])
