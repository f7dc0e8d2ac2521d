"""Peer methods that the benchmarks compare against. Benchmarks only: product code never imports these."""
