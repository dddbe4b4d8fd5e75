from core.eta import Eta, format_seconds


def test_eta_extrapolates_the_pace_so_far():
    now = [100.0]
    eta = Eta(10, clock=lambda: now[0])
    assert eta.remaining(0) is None
    now[0] = 130.0  # 3 steps in 30 s: 10 s a step, 7 to go
    assert eta.remaining(3) == 70.0
    assert eta.line(3) == "3/10 done, 30 s elapsed, about 70 s left"
    now[0] = 200.0
    assert eta.line(10) == "10/10 done, 2 min elapsed, about 0 s left"


def test_format_seconds_reads_as_a_wait():
    assert [format_seconds(s) for s in (0, 42.4, 89, 91, 3599, 3600, 3 * 3600 + 5 * 60)] == [
        "0 s", "42 s", "89 s", "2 min", "1 h 00 min", "1 h 00 min", "3 h 05 min"]
