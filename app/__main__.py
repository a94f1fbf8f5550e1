"""`python -m app`: the single-process development server (debug, auto-reload)."""

import os

from app.factory import create_app

if __name__ == "__main__":
    create_app().run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "5000")),
        debug=True,
    )
