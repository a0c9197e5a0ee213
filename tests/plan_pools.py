"""A plan pool for tests: the mail plan's partition tasks run in this process, one by one, in order."""
from __future__ import annotations


class InProcessPool:
    """A pool running its tasks here, one by one, counting them by function (the merges run on the
    plan's own connection, as with worker processes)."""

    def __init__(self, width: int):
        self.width, self.calls = width, {}

    def map(self, fn, arglist, each=None):
        self.calls[fn.__name__] = self.calls.get(fn.__name__, 0) + len(arglist)
        results = []
        for args in arglist:
            results.append(fn(*args))
            if each is not None:
                each(len(results) - 1, results[-1])
        return results

    def close(self):
        pass
