"""photonics.instrument's pieces for stand-alone scripts: argparse types, the one-line parser,
run_script's exit statuses and warn_no_effect."""

import argparse
import errno

import pytest

from photonics.errors import ConfigError
from photonics.instrument import positive_float, positive_int, positive_int_list, run_script, script_parser, warn_no_effect
from tests.helpers import stderr_lines


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "x", ""])
def test_positive_int_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match="must be an integer >= 1"):
        positive_int(text)


@pytest.mark.parametrize("text", ["0", "-2", "nan", "inf", "-inf", "x"])
def test_positive_float_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match="must be a finite number > 0"):
        positive_float(text)


def test_types_accept():
    assert positive_int("7") == 7 and positive_float("1e-3") == 1e-3
    assert positive_int_list("4") == [4] and positive_int_list("1,2,") == [1, 2]
    for bad in ("", ",", "1,0", "1;2"):
        with pytest.raises(argparse.ArgumentTypeError, match="comma-separated integers >= 1"):
            positive_int_list(bad)


def test_parser_errors_are_one_line(capsys):
    ap = script_parser("tool.py", "a tool")
    ap.add_argument("--n", type=positive_int, default=1)
    ap.add_argument("--mode", choices=("a", "b"), default="a")
    for argv, says in ((["--n", "0"], "argument --n: must be an integer >= 1 (got 0)"), (["--mode", "c"], "argument --mode: invalid choice"),
                       (["--nope"], "unrecognized arguments: --nope")):
        with pytest.raises(SystemExit) as ex:
            ap.parse_args(argv)
        assert ex.value.code == 2
        (line,) = stderr_lines(capsys.readouterr().err)
        assert line.startswith("tool.py: error: ") and says in line and line.endswith("(see --help)")
    assert ap.parse_args(["--n", "3"]).n == 3


def test_run_script_statuses(capsys):
    assert run_script("t.py", lambda: {"a": 1}) == 0  # an example's dict
    assert run_script("t.py", lambda: 3) == 3
    assert run_script("t.py", lambda: True) == 0  # a bool is not a status
    assert capsys.readouterr().err == ""

    def refused():
        raise ConfigError("camera.bit_depth must be in 1..16 (got 0)")

    assert run_script("t.py", refused) == 2
    assert stderr_lines(capsys.readouterr().err) == ["t.py: error: camera.bit_depth must be in 1..16 (got 0)"]

    def full_disk():
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.h5")

    assert run_script("t.py", full_disk) == 2
    assert stderr_lines(capsys.readouterr().err) == ["t.py: error: no space left on the device (/data/out.h5)"]

    def too_big():
        raise MemoryError("Unable to allocate 745. GiB for an array with shape (100000, 1000000) and data type float64")

    assert run_script("t.py", too_big) == 2
    assert stderr_lines(capsys.readouterr().err) == ["t.py: error: not enough memory: Unable to allocate 745. GiB for an array with shape "
                                               "(100000, 1000000) and data type float64; lower the sizes"]

    cleaned = []

    def interrupted():
        raise KeyboardInterrupt

    assert run_script("t.py", interrupted, cleanup=lambda: cleaned.append(1), kept=lambda: "t.py: kept a.json") == 130
    assert stderr_lines(capsys.readouterr().err) == ["t.py: kept a.json", "t.py: interrupted"]
    assert run_script("t.py", interrupted, cleanup=lambda: cleaned.append(2), kept=lambda: "") == 130
    assert stderr_lines(capsys.readouterr().err) == ["t.py: interrupted"]
    assert run_script("t.py", refused, cleanup=lambda: cleaned.append(3)) == 2
    capsys.readouterr()
    assert cleaned == [1, 2, 3]

    def bug():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_script("t.py", bug)


def test_warn_no_effect(caplog):
    with caplog.at_level("WARNING"):
        assert warn_no_effect(["--quick", "--n=3", "--m", "4"], ("--n", "--m", "--k"), "with --quick") == ["--n", "--m"]
        assert warn_no_effect(["--quick", "--nn", "3"], ("--n",), "with --quick") == []
    assert [r.getMessage() for r in caplog.records] == ["--n, --m: no effect with --quick"]
