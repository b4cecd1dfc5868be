"""The per-process event publisher (arena.services.events) across a fork."""
from __future__ import annotations


def test_a_forked_worker_process_gets_a_publisher_of_its_own():
    """Celery prefork children are forked from a parent; if the parent had published, its
    publisher thread does not exist in the child, and events handed to it would never go out."""
    import os

    from arena.services import events

    events.publish("battle.nobody", {"type": "ping"})
    assert events.flush(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: publishing must still work (flush returns once sent)
        ok = False
        try:
            events.publish("battle.nobody", {"type": "ping"})
            ok = events.flush(5)
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    got = os.read(read, 1)
    os.waitpid(pid, 0)
    assert got == b"1"
