"""Peers of normtheory's engines written in other frameworks, timed and checked by the benchmarks in bench/."""
