"""``python -m talkbox.web [--host H] [--port P]``: the API and event stream, threaded."""

from __future__ import annotations

import argparse

from talkbox.web.app import create_app, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m talkbox.web", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    serve(create_app(), args.host, args.port)


if __name__ == "__main__":
    main()
