"""The peer's FastAPI app for uvicorn (`uvicorn peer_app:APP`), on Python 3.11.

The peer declares Python >= 3.12; this machine's Python (Debian 12) is 3.11, so it is installed
with `--ignore-requires-python`. The one 3.12-only thing it relies on is pydantic accepting
`typing.TypedDict`, which on 3.11 pydantic refuses; `typing_extensions.TypedDict` is the same
thing for older Pythons, so it is put in its place before the peer is imported. Nothing else of
the peer is changed.
"""

import typing

import typing_extensions

typing.TypedDict = typing_extensions.TypedDict

from registry.aws_lambda.registry_lambda import APP  # noqa: E402

__all__ = ["APP"]
