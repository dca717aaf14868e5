"""Test-only pause points: make a race window deterministic from a test, nothing else.

`QUEUECTL_TEST_PAUSE=name:seconds[,name:seconds…]` makes the process sleep `seconds` when it
reaches the point `name` (e.g. `after-reading-states`, inside the write transaction of `cancel`,
`delete` and `retry`); with `QUEUECTL_TEST_PAUSE_FLAG=path` it first creates `path`, so the test
knows the window is open. Unset (always, outside tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time


def pause_point(name: str) -> None:
    spec = os.environ.get("QUEUECTL_TEST_PAUSE")
    if not spec:
        return
    for item in spec.split(","):
        point, _, seconds = item.partition(":")
        if point == name:
            flag = os.environ.get("QUEUECTL_TEST_PAUSE_FLAG")
            if flag:
                with open(flag, "a"):
                    pass
            time.sleep(float(seconds or 1))
