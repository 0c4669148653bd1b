"""One run at a time per pipeline root.

LocalDagRunner keeps MLMD in one SQLite file and writes artifacts under the pipeline root; two
runs at once would race on both (SQLite "database is locked" in the middle of a component, or
two Trainers publishing into the same node context). A second run fails at once with a clear
message instead. The lock is an OS file lock: it is released when its process dies, even by
SIGKILL, so a killed run never blocks the next one.
"""

import contextlib
import errno
import fcntl
import os
from typing import Iterator

LOCK_FILE = ".run.lock"


class PipelineBusyError(RuntimeError):
    """Another run holds this pipeline root."""


@contextlib.contextmanager
def exclusive(pipeline_root: str) -> Iterator[None]:
    os.makedirs(pipeline_root, exist_ok=True)
    path = os.path.join(pipeline_root, LOCK_FILE)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise PipelineBusyError(
                f"another run (pid {holder}) is using the pipeline root {pipeline_root}; wait "
                f"for it to finish or use another --output-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
