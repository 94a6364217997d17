"""Progress of a stage: plain lines when stderr is not a terminal, a bar with rate and time left when it is."""

from __future__ import annotations

import io
import re
import sys

import benchmark.core.progress as P


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal(capsys, monkeypatch):
    clock = iter(float(t) for t in range(0, 1000, 6))  # each reading of the clock 6 s after the last
    monkeypatch.setattr(P.time, "monotonic", lambda: next(clock))
    assert list(P.progress(range(5), "kit volumes")) == list(range(5))
    out, err = capsys.readouterr()
    assert out == ""  # stdout keeps the command's results
    lines = err.splitlines()
    assert all(line.startswith("kit volumes: ") for line in lines) and "\x1b" not in err
    assert re.fullmatch(r"kit volumes: 2/5 \(0\.17/s, 0:18 left\)", lines[0]), lines
    assert re.fullmatch(r"kit volumes: 5/5 done in 0:36 \(0\.14/s\)", lines[-1]), lines
    assert len(lines) == 3  # at most one line every PLAIN_EVERY_S, and the last


def test_silent_when_asked(capsys):
    assert list(P.progress(iter("abc"), "stage", show=False)) == ["a", "b", "c"]
    assert capsys.readouterr() == ("", "")


def test_a_bar_with_rate_and_time_left_on_a_terminal(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert list(P.progress(range(4), "anonymise (blur)")) == list(range(4))
    text = term.getvalue()
    assert "anonymise (blur)" in text and "4/4" in text and "/s" in text and "left" in text
    assert "\x1b[" in text  # drawn as a terminal bar, not as plain lines
    assert "done in" not in text
