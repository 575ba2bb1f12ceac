#!/usr/bin/env python3
"""loop_probe.py ADDR STOP_FILE: how long the server's loop stalls, seen from outside.

Sends GET ADDR/v1/status/leader (answered on the server's event loop) one after the
other until STOP_FILE exists (at most 600 s), and prints the longest answer's time:
  loop_probe: samples=N max_ms=M p99_ms=P over_100ms=K
A request that gets no answer within 30 s counts as 30,000 ms.
"""
import os
import sys
import time
import urllib.request


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    url, stop = sys.argv[1] + "/v1/status/leader", sys.argv[2]
    times = []
    end = time.monotonic() + 600
    while not os.path.exists(stop) and os.path.isdir(os.path.dirname(stop) or ".") and time.monotonic() < end:
        t0 = time.monotonic()
        try:
            urllib.request.urlopen(url, timeout=30).read()
        except Exception:  # a refused or timed-out probe still measured its wait
            pass
        times.append((time.monotonic() - t0) * 1000)
        time.sleep(0.005)
    times.sort()
    if not times:
        times = [0.0]
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print("loop_probe: samples=%d max_ms=%.0f p99_ms=%.0f over_100ms=%d"
          % (len(times), times[-1], p99, sum(1 for t in times if t > 100)))


main()
