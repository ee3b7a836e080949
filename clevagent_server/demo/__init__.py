"""`clevagent demo`: the whole stack on real agent processes, in about a minute.

The demo starts a private embedded PostgreSQL, the API with the detectors, the runner, a
loopback stand-in of the OpenAI API and five agent processes built with the SDK, each
with one behaviour to detect. It shows the fleet live and ends with how long each
detection took.
"""
