"""Loopback stand-ins for the outside world, used by the demo and the tests.

An S3-compatible server (moto's server mode), the sample catalogue API and the push endpoint,
each served for real on 127.0.0.1, plus a demo partner that signs tokens and pushes batches.
Production points the same source definitions at real endpoints with no code change.
"""
