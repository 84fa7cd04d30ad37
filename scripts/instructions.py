"""Instructions per request, counted by Valgrind's callgrind: a measure of CPU work that the
machine's speed does not move.

CPU time on a shared virtual machine drifts by tens of per cent within an hour, so two
versions of the code can only be compared by CPU time in many alternating runs. The number
of instructions a request executes does not depend on the machine's speed or load: with a
fixed hash seed and the same data, two runs of the same code count the same within a
fraction of a per cent. It is not time (an instruction that misses the cache costs more
than one that hits), so a change judged by it should also be seen in CPU time.

``profile_requests.py --instructions`` runs itself again under
``valgrind --tool=callgrind`` with instrumentation off (start-up, data preparation, the
index build and the warm-up requests run at Valgrind's uninstrumented speed, several times
slower than native), then :class:`Counter` turns instrumentation on and collects only
inside each measured WSGI call (the client's own work is not counted), dumping the counts
each time the kind of request changes. :func:`instructions_by_kind` sums the dumps.

Needs ``valgrind`` (with its ``valgrind/callgrind.h``, in Debian's ``valgrind`` package) and
a C compiler, for a four-function helper library built on the fly (the client requests are
C macros, not functions Python could call).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

ENV_DIR = "FM_CALLGRIND_DIR"  # set for the child that runs under valgrind: where it dumps
HELPER_SOURCE = """\
#include <valgrind/callgrind.h>
void fm_start_instrumentation(void) { CALLGRIND_START_INSTRUMENTATION; }
void fm_toggle_collect(void) { CALLGRIND_TOGGLE_COLLECT; }
void fm_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
"""
LABEL_PREFIX = "fm-kind:"
_DESC = re.compile(r"^desc: Trigger: Client Request: " + re.escape(LABEL_PREFIX) + r"(.+)$")
_TOTALS = re.compile(r"^totals: (\d+)")


class InstructionsError(RuntimeError):
    """Valgrind or the compiler is missing, or the run under valgrind failed."""


def under_callgrind() -> Path | None:
    """The dump folder when this process is the child running under valgrind, else None."""
    value = os.environ.get(ENV_DIR)
    return Path(value) if value else None


def build_helper(folder: Path) -> Path:
    """Compile the helper library into ``folder``; return its path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if shutil.which("valgrind") is None or compiler is None:
        raise InstructionsError("--instructions needs valgrind and a C compiler "
                                "(Debian: apt-get install valgrind gcc)")
    source, library = folder / "fm_callgrind.c", folder / "fm_callgrind.so"
    source.write_text(HELPER_SOURCE)
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InstructionsError(f"could not build the callgrind helper:\n{done.stderr}")
    return library


def run_under_callgrind(argv: list[str], folder: Path) -> None:
    """Run ``argv`` (a Python command) under callgrind, dumping into ``folder``."""
    build_helper(folder)
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
        f"--callgrind-out-file={folder}/callgrind.out.%p", "--quiet", *argv,
    ]
    # A fixed hash seed: the order of sets and dicts keyed by strings is then the same in
    # every run, and so is the work that depends on it.
    env = {**os.environ, ENV_DIR: str(folder), "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, env=env, check=False)
    if done.returncode != 0:
        raise InstructionsError(f"the run under valgrind exited with {done.returncode}")


class Counter:
    """Collects instructions only inside :meth:`begin` … :meth:`end`, per kind."""

    def __init__(self, folder: Path) -> None:
        self._lib = ctypes.CDLL(str(folder / "fm_callgrind.so"))
        self._lib.fm_dump.argtypes = [ctypes.c_char_p]
        self._kind: str | None = None  # the kind whose counts are not yet dumped
        self.requests: dict[str, int] = defaultdict(int)

    def start(self) -> None:
        """Turn instrumentation on (from here on everything runs slowly)."""
        self._lib.fm_start_instrumentation()

    def begin(self, kind: str) -> None:
        """Start collecting for one request of ``kind``."""
        if self._kind is not None and self._kind != kind:
            self.flush()
        self._kind = kind
        self._lib.fm_toggle_collect()

    def end(self) -> None:
        """Stop collecting (the request is over)."""
        self._lib.fm_toggle_collect()
        assert self._kind is not None
        self.requests[self._kind] += 1

    def flush(self) -> None:
        """Dump what was collected since the last dump, labelled with its kind."""
        if self._kind is not None:
            self._lib.fm_dump(f"{LABEL_PREFIX}{self._kind}".encode())
            self._kind = None


def instructions_by_kind(folder: Path) -> dict[str, int]:
    """Instructions per kind: the sum of the labelled dumps' totals in ``folder``."""
    totals: dict[str, int] = defaultdict(int)
    for path in folder.glob("callgrind.out.*"):
        kind = None
        with path.open(errors="replace") as lines:
            for line in lines:
                if kind is None and (match := _DESC.match(line)):
                    kind = match.group(1)
                elif kind is not None and (match := _TOTALS.match(line)):
                    totals[kind] += int(match.group(1))
                    break
    return dict(totals)
