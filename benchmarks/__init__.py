"""flux2 benchmarks (issue 8): start-up, client-side cost of one response, batch throughput.

Run with `python -m benchmarks` (full spec) or `python -m benchmarks --quick` (development).
Measurement only: nothing here changes flux2's behaviour.
"""
