"""cluster_load.py - what cluster_writes.py and cluster_gc.py share: the batch job they
register, and a pool of threads that takes job numbers 1..N in turn.
"""
import json
import threading
import time


def batch_job(job_id, cpu, memory):
    """A batch job of one group with one raw_exec task (/bin/true): one allocation."""
    return {"Job": {"ID": job_id, "Type": "batch", "TaskGroups": [{
        "Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"},
                                "Resources": {"CPU": cpu, "MemoryMB": memory}}]}]}}


def batch_job_json(job_id, cpu, memory):
    return json.dumps(batch_job(job_id, cpu, memory), separators=(",", ":"))


def run_numbered(threads, jobs, deadline, work, done=None):
    """Run `threads` threads; each calls work(n, conns) for the next number n (1..jobs,
    each once) until they are all taken or time.monotonic() passes deadline. conns is
    the thread's own dict (its kept-alive connections); done(conns), if given, runs
    once the thread stops. Returns when every thread has."""
    lock = threading.Lock()
    nxt = [1]

    def loop():
        conns = {}
        try:
            while True:
                with lock:
                    n = nxt[0]
                    nxt[0] += 1
                if n > jobs or time.monotonic() > deadline:
                    return
                work(n, conns)
        finally:
            if done:
                done(conns)

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
