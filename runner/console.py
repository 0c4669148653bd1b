"""What a person sees while the pipeline runs: known library noise filtered, what is running
now, and a line per component as it finishes, with its key figure (`ComponentLines`).
`--verbose` installs none of it.

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
import contextlib
import logging
import os
import re
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterator, Optional, Pattern, Tuple

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
    # The run report asks TFMA for the served baseline's metrics, absent when none was served
    r"Fail to find metrics for model name: baseline \. Available model names are",
    # Beam's TFRecord writer on its pure-Python CRC (python-snappy no longer provides one),
    # also relayed from every DirectRunner worker process:
    r"find python-snappy so the implementation of _TFRecordUtil",
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


# What Python prints, and ignores, when TF's function finalizer runs after its module was torn
# down: a DirectRunner worker process exiting after its last bundle (four lines, once per
# leftover traced function, sixteen at 10M).
_IGNORED_AT_EXIT = re.compile(r"^Exception ignored in: <function AtomicFunction\.__del__ at ")


class NoiseLines:
    """Keeps the lines of a stream that are not noise: single noise lines (`is_noise`), and
    the ignored-at-exit tracebacks, header to exception line (so state is kept across calls)."""

    def __init__(self) -> None:
        self._in_ignored_traceback = False

    def keep(self, line: str) -> bool:
        if self._in_ignored_traceback:
            if not (line.startswith((" ", "\t")) or line.startswith("Traceback (most recent")):
                self._in_ignored_traceback = False  # the exception's own line ends it
            return False
        if _IGNORED_AT_EXIT.match(line):
            self._in_ignored_traceback = True
            return False
        return not is_noise(line)


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


FigureLookup = Callable[[str], Optional[str]]  # component id → its key figure (None: none)
PROGRESS_AFTER = 60.0  # s: off a terminal, a stage still running then says so (then 2x, 4x ...)
TICK_SECONDS = 1.0  # how often the status line is redrawn
_CLEAR_LINE = "\r\x1b[K"  # back to the line's start, erase it


def _no_figure(component: str) -> Optional[str]:
    return None


def _is_terminal(stream) -> bool:
    """Whether `stream` shows a status line redrawn in place (not a file, a pipe, a dumb
    terminal)."""
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class ComponentLines(logging.Handler):
    """Prints `  <component> executed|cached  N s  <key figure>` when LocalDagRunner reports a
    component finished (it runs one component at a time), and says what is running meanwhile.

    On a terminal that is a status line, `  <component> running  N s`, redrawn in place every
    second; the end line replaces it, and any other output (Keras's epoch lines, a warning)
    first erases it and sees the next tick redraw it below: the console ends with one line per
    component, nothing garbled. Off a terminal (a log file, CI) nothing can be redrawn, so a
    stage that is still running after PROGRESS_AFTER seconds says so, then after twice, four
    times as long...: a long stage adds a few lines, a short one none.

    `figure` is set by `pipeline` for the time of a run: this layer knows nothing of the
    pipeline, the runner hands it a lookup (runner/figures.py). A figure that cannot be read
    leaves the line without it.
    """

    def __init__(self, stream, clock: Callable[[], float] = time.monotonic,
                 progress_after: float = PROGRESS_AFTER, tick_seconds: float = TICK_SECONDS
                 ) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.in_place = _is_terminal(stream)
        self.figure: FigureLookup = _no_figure
        self._clock = clock
        self._progress_after = progress_after
        self._tick_seconds = tick_seconds
        self._cached = set()
        # The running component and the status line, shared with the ticker thread and with
        # whoever else writes to the terminal (status_lock).
        self.status_lock = threading.RLock()
        self._running: Optional[str] = None
        self._started = 0.0
        self._next_progress = progress_after
        self._status_shown = False
        self._at_line_start = True

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
            with self.status_lock:
                self._running, self._started = node, self._clock()
                self._next_progress = self._progress_after
            self._cached.discard(node)  # cached in an earlier run of this process (--compare)
            return
        seconds = self._seconds(node)  # the component's time, not the lookup's
        # Looked up outside the status lock: the lookup may log, and the stderr thread takes
        # the lock to erase the status line.
        self._end(node, "cached" if node in self._cached else "executed", seconds,
                  self._figure(node))

    def _seconds(self, node: str) -> float:
        return self._clock() - self._started if node == self._running else 0.0

    def _figure(self, node: str) -> Optional[str]:
        try:
            return self.figure(node)
        except Exception:  # noqa: BLE001 (a figure is a nicety: the line goes without it)
            return None

    def _end(self, node: str, state: str, seconds: float, figure: Optional[str]) -> None:
        with self.status_lock:
            self._running = None
            self.clear_status()
            self.stream.write(f"  {node:<32} {state:<8} {seconds:6.1f} s"
                              + (f"  {figure}" if figure else "") + "\n")
            self.stream.flush()
            self._at_line_start = True

    def tick(self) -> None:
        """What the ticker thread does every TICK_SECONDS: redraw the status line, or, off a
        terminal, say that a long stage is still running."""
        with self.status_lock:
            if self._running is None:
                return
            elapsed = self._clock() - self._started
            if self.in_place and (self._at_line_start or self._status_shown):
                self.stream.write(f"{_CLEAR_LINE}  {self._running:<32} running  {elapsed:6.0f} s")
                self._status_shown = True
            elif not self.in_place and elapsed >= self._next_progress:
                self.stream.write(f"  {self._running:<32} still running, {elapsed:.0f} s\n")
                self._next_progress *= 2
            else:
                return
            self.stream.flush()

    def clear_status(self) -> None:
        """Erases the status line, if one is shown, before someone else writes whole lines."""
        with self.status_lock:
            if self._status_shown:
                self.stream.write(_CLEAR_LINE)
                self.stream.flush()
                self._status_shown = False
                self._at_line_start = True

    def write_around_status(self, write: Callable[[str], Any], text: str) -> Any:
        """Another writer's `text` to the terminal, with the status line erased first; a
        partial line (no newline yet) is not drawn over until it is finished."""
        with self.status_lock:
            self.clear_status()
            written = write(text)
            if text:
                self._at_line_start = text.endswith("\n")
            return written

    @contextlib.contextmanager
    def pipeline(self, figure: FigureLookup) -> Iterator[None]:
        """For the time of a pipeline run: end lines carry `figure(component)`, the ticker
        thread runs, and on a terminal `sys.stdout` writes around the status line. On the way
        out no status line is left, and a component stopped by an error gets a `failed` line."""
        self.figure = figure
        stop = threading.Event()

        def ticks() -> None:
            while not stop.wait(self._tick_seconds):
                self.tick()

        ticker = threading.Thread(target=ticks, name="console-status", daemon=True)
        stdout = sys.stdout
        if self.in_place:
            sys.stdout = _AroundStatus(stdout, self)
        ticker.start()
        try:
            yield
        except Exception:
            if self._running is not None:
                self._end(self._running, "failed", self._seconds(self._running), None)
            raise
        finally:
            stop.set()
            ticker.join()
            sys.stdout = stdout
            self.figure = _no_figure
            self.clear_status()


class _AroundStatus:
    """sys.stdout while a status line is shown in place: every write erases it first."""

    def __init__(self, stream, lines: ComponentLines) -> None:
        self._stream = stream
        self._lines = lines

    def write(self, text: str) -> int:
        return self._lines.write_around_status(self._stream.write, text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _StderrFilter:
    """fd 2 → a pipe; a thread copies every line but the noise to the original stderr."""

    def __init__(self) -> None:
        self.before_write: Callable[[], None] = lambda: None  # erases a status line
        self._noise = NoiseLines()
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
        kept = [line for line in lines if self._noise.keep(line.decode("utf-8", "replace"))]
        if kept:
            self.before_write()
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
_lines: Optional[ComponentLines] = None
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
    global _installed, _lines
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
    _lines = ComponentLines(stream or sys.stdout)
    absl_logger.addHandler(_lines)
    warnings_handler = logging.StreamHandler(sys.stderr)
    warnings_handler.setLevel(logging.WARNING)
    warnings_handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    warnings_handler.addFilter(noise)
    absl_logger.addHandler(warnings_handler)


def is_installed() -> bool:
    return _installed is not None


@contextlib.contextmanager
def pipeline_running(figure: FigureLookup) -> Iterator[None]:
    """Wraps a pipeline run on the quiet console (ComponentLines.pipeline): end lines carry
    `figure(component)`, the running component is shown, and the stderr filter erases the
    status line before it copies a line. Without the quiet console (--verbose) it does
    nothing."""
    if _lines is None or _installed is None:
        yield
        return
    _installed.before_write = _lines.clear_status
    try:
        with _lines.pipeline(figure):
            yield
    finally:
        _installed.before_write = lambda: None
