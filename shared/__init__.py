"""kopnet's kernel: event store, aggregates, relay, consumers and projections.

Plain Python; nameko appears only in `providers.py`. Nothing here knows any service.
"""
