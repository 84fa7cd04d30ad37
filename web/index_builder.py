"""Build one matching index in a process of its own and save it to a file.

Run by a gunicorn worker (``web.services.index_files``) when the register changed and the
index is large: ``DATABASE_URL=… python -m web.index_builder --instance-path DIR
--version V --path FILE --fingerprint F`` (the database in the environment, where other
users cannot read its password, unlike a command line). In a process of its own the build has a core
to itself, not a share of the worker's interpreter lock with the requests the worker is
serving; and if the worker is killed meanwhile, the build goes on (it holds the build
lock it inherited), so the other workers still get the index without building it again.

Exit status: 0 saved; 3 the code on disk is not the code the worker runs (a new release
was installed under a running service), so the worker builds in its own process instead;
1 anything else (the message on standard error).
"""

from __future__ import annotations

import argparse
import sys
import time

CODE_CHANGED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance-path", required=True)
    parser.add_argument("--version", required=True, help="the data version to label it")
    parser.add_argument("--path", required=True, help="the file to save it to")
    parser.add_argument("--fingerprint", required=True, help="the worker's code fingerprint")
    args = parser.parse_args(argv)

    from matcher.store import save_index
    from web import create_app
    from web.extensions import db
    from web.services import index_files, matching

    if index_files.code_fingerprint() != args.fingerprint:
        print("the code on disk differs from the worker's: not building", file=sys.stderr)
        return CODE_CHANGED
    # The builder signs nothing: any key of the right length will do.
    app = create_app({"SECRET_KEY": "b" * 32}, instance_path=args.instance_path)
    with app.app_context():
        started = time.perf_counter()
        index = matching.build_index(data_version=args.version)
        index.build_seconds = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    save_index(index, args.path, fingerprint=args.fingerprint)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
