"""What the server fixtures of tests/remote/ share."""

import os
import threading
import time


def exit_with_parent():
    """Ends this process when the process that started it is gone, so a test
    that dies without stopping the server leaves nothing behind."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
