"""moto's server with S3's conditional writes made atomic, for the tests.

S3 decides a conditional PUT (`If-None-Match: *`, `If-Match: <etag>`) and the write as one step:
of two concurrent creates of one key, exactly one succeeds. moto 5's S3Response.put_object
checks the condition and then writes, and other requests run on other threads of the same
server, so two racers could both be told they created the key (a narrow gap: not seen in the
runs made here, origin/tests/aws_storage/s3_layout.rs, but nothing rules it out). The
registry's race tests (concurrent uploads of one version, releases, keys, mirrored packages)
want S3's behaviour, so this runs moto's own server with every object PUT and POST (a
multipart completion takes the same conditions) behind one lock: the check and the write of
one request happen with no other write in between. Reads are not held up.

Usage (as moto_server): python3 moto_atomic.py -H 127.0.0.1 -p PORT
"""

import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_WRITES = threading.Lock()


def _atomic(method):
    def locked(self, *args, **kwargs):
        with _WRITES:
            return method(self, *args, **kwargs)

    locked.__name__ = method.__name__
    locked.__doc__ = method.__doc__
    return locked


for _name in ("_key_response_put", "_key_response_post"):
    if not hasattr(S3Response, _name):
        sys.exit(f"moto_atomic.py: this moto has no S3Response.{_name}: check the patch")
    setattr(S3Response, _name, _atomic(getattr(S3Response, _name)))

if __name__ == "__main__":
    sys.exit(main())
