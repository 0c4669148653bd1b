"""What a person sees while the pipeline runs: known library noise filtered, a line per
component as it finishes. `--verbose` installs none of it.

Filtered are only messages that say nothing actionable to a user of this pipeline, matched one
by one (`NOISE`): TensorFlow's CUDA plug-in registration errors on a machine without a GPU,
XLA's start-up lines, TFX and TF warnings about their own internals, deprecation notices of
APIs that TFX and TFMA call. Anything else, every error and every anomaly included, passes.

Two layers, because the noise comes from two places: Python log records (dropped whole, so a
multi-line deprecation notice goes with its first line) and lines that TensorFlow's C++ code
writes straight to file descriptor 2, which pass through a pipe and a reader thread. That
thread is flushed and joined at exit, so a traceback printed at exit still comes through.
"""

import atexit
import logging
import os
import re
import sys
import threading
import time
import warnings
from typing import Optional, Pattern, Tuple

NOISE: Pattern[str] = re.compile("|".join([
    r"Unable to register cu(DNN|FFT|BLAS) factory",  # TF's CUDA plug-ins, no GPU here
    r"All log messages before absl::InitializeLog\(\) is called",
    r"XLA service 0x[0-9a-f]+ initialized for platform Host",
    r"StreamExecutor device \(\d+\): Host, Default Version",
    r"Compiled cluster using XLA!",
    r"ArtifactQuery\.property_predicate is not supported",  # TFX's resolver, every run
    r"Tables initialized inside a tf\.function",  # TFT's layer in our signatures, by design
    r"does not have payload_format custom property",
    r"SavedModel saved prior to TF 2\.5 detected",  # TFMA loading our SavedModel
    r"Couldn't find python-snappy",
    r"is deprecated and will be removed in a future version",  # inside TFX, TFMA, TFT
    r"Instructions for updating:",
    # Beam's DirectRunner worker processes (--beam-workers), relayed at every start:
    r"No semi_persistent_directory found: Functions defined in __main__",
    r"Discarding unparseable args: \[\\?'--direct_runner_use_stacked_bundle",
]))

# Log records of these names and levels announce a component (LocalDagRunner's own messages),
# and the launcher's when a component's earlier result is reused.
_COMPONENT = re.compile(r"^Component (?P<node>\S+) is (?P<state>running|finished)\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")


def is_noise(text: str) -> bool:
    return bool(NOISE.search(text))


class _DropNoise(logging.Filter):
    """Drops noise records, and records of the exceptions the runner reports itself."""

    reported: Tuple[type, ...] = ()  # set by hide_log_records_of

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.reported):
            return False  # the run ends with its `error:` block
        try:
            return not is_noise(record.getMessage())
        except Exception:  # noqa: BLE001 (a record that cannot format is shown as it is)
            return True


class _ComponentLines(logging.Handler):
    """Prints `  <component> executed|cached  N s` when LocalDagRunner reports a component
    finished (LocalDagRunner runs one component at a time)."""

    def __init__(self, stream) -> None:
        super().__init__(logging.INFO)
        self._stream = stream
        self._started = {}
        self._running: Optional[str] = None
        self._cached = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _CACHED.match(message) and self._running is not None:
            self._cached.add(self._running)
            return
        match = _COMPONENT.match(message)
        if not match:
            return
        node = match.group("node")
        if match.group("state") == "running":
            self._started[node] = time.monotonic()
            self._running = node
            return
        seconds = time.monotonic() - self._started.pop(node, time.monotonic())
        state = "cached" if node in self._cached else "executed"
        self._stream.write(f"  {node:<32} {state:<8} {seconds:6.1f} s\n")
        self._stream.flush()


class _StderrFilter:
    """fd 2 → a pipe; a thread copies every line but the noise to the original stderr."""

    def __init__(self) -> None:
        self._original = os.dup(2)
        read_end, write_end = os.pipe()
        sys.stderr.flush()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._reader = os.fdopen(read_end, "rb", buffering=0)
        self._thread = threading.Thread(target=self._copy, name="stderr-filter", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _copy(self) -> None:
        pending = b""
        while True:
            chunk = self._reader.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            self._write(lines)
        if pending:
            self._write([pending])

    def _write(self, lines) -> None:
        kept = [line for line in lines if not is_noise(line.decode("utf-8", "replace"))]
        if kept:
            os.write(self._original, b"".join(line + b"\n" for line in kept))

    def close(self) -> None:
        """Restores fd 2 and copies what is still in the pipe (at exit, after tracebacks)."""
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._original, 2)  # closes the pipe's last write end: the reader sees EOF
        self._thread.join(timeout=5)


_installed: Optional[_StderrFilter] = None
_NOISE_FILTER = _DropNoise()


def hide_log_records_of(error_types: Tuple[type, ...]) -> None:
    """Libraries log an exception with its traceback before it reaches the runner (Beam does,
    as it re-raises it); for these types the runner prints an `error:` block of its own."""
    _NOISE_FILTER.reported = tuple(error_types)
    for handler in logging.getLogger().handlers:
        if _NOISE_FILTER not in handler.filters:
            handler.addFilter(_NOISE_FILTER)


def install_quiet_console(stream=None) -> None:
    """Filters the known noise (call before TensorFlow is imported) and prints a line per
    finished component to `stream` (default stdout)."""
    global _installed
    from absl import logging as absl_logging  # its logger must exist to be configured

    warnings.filterwarnings("ignore", category=FutureWarning)  # Google API client's Python
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # notices, not errors
    if _installed is None:
        _installed = _StderrFilter()
    noise = _NOISE_FILTER
    for handler in logging.getLogger().handlers:
        handler.addFilter(noise)
    for name in ("tensorflow", "apache_beam", "root"):
        logging.getLogger(None if name == "root" else name).addFilter(noise)
    # LocalDagRunner's component messages are INFO records of absl's logger. It gets handlers
    # of its own and stops propagating, so that letting INFO records be created cannot flood
    # the console through a handler someone else adds to the root logger.
    absl_logger = logging.getLogger("absl")
    absl_logger.propagate = False
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.addHandler(_ComponentLines(stream or sys.stdout))
    warnings_handler = logging.StreamHandler(sys.stderr)
    warnings_handler.setLevel(logging.WARNING)
    warnings_handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    warnings_handler.addFilter(noise)
    absl_logger.addHandler(warnings_handler)


def is_installed() -> bool:
    return _installed is not None
