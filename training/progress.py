"""Progress bars: tqdm when Debian's python3-tqdm is installed, else a one-line fallback on stderr."""
from __future__ import annotations

import sys
import time
from typing import Any, Dict, Optional

try:
    from tqdm import tqdm as _tqdm
except ImportError:  # python3-tqdm is optional
    _tqdm = None


class Progress:
    """A bar over `total` steps with a postfix of named figures; silent when disabled."""

    def __init__(self, total: int, desc: str, enabled: bool = True):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.n = 0
        self.postfix: Dict[str, Any] = {}
        self.t0 = time.monotonic()
        # Redirected to a log file: redraw every 10 s instead of 10 times a second.
        interval = 0.1 if sys.stderr.isatty() else 10.0
        self._bar = _tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=True,
                          mininterval=interval) if enabled and _tqdm is not None else None

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.n += n
        self.postfix.update(postfix)
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(n)
        elif self.enabled:
            width = 30
            done = int(width * self.n / max(1, self.total))
            figs = ' '.join(f'{k}={v}' for k, v in self.postfix.items())
            sys.stderr.write(f'\r{self.desc} [{"#" * done}{"." * (width - done)}] '
                             f'{self.n}/{self.total} {time.monotonic() - self.t0:.0f}s {figs}   ')
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            sys.stderr.write('\n')


def log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        sys.stderr.write(msg + '\n')
        sys.stderr.flush()
