"""`caremarket serve`: the web app's own command, added to the `caremarket` CLI through the
`caremarket.commands` entry point (caremarket/ never imports web/)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from waitress import serve

from caremarket.accounts import ensure_demo_admin
from caremarket.cases import load_sample
from caremarket.cli import reports_errors
from web import create_app

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@click.command("serve")
@click.option("--port", type=int, default=None, help="Port (default $PORT, else 5000).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--threads", type=int, default=16, show_default=True)
@click.option("--sample", is_flag=True,
              help="Create the store with the sample market (and a demo admin) if it is empty.")
@click.pass_obj
@reports_errors
def serve_cmd(obj, port: int | None, host: str, threads: int, sample: bool) -> None:
    """Serve the web app and the JSON API with waitress (a production WSGI server)."""
    port = port or int(os.environ.get("PORT") or 5000)
    db = obj.db
    if sample and db["zones"].count == 0:
        load_sample(db)
        click.echo("loaded the sample market")
    if sample:
        secret = Path(obj.db_path).parent / "demo-admin.txt"
        email, password = ensure_demo_admin(db, password_file=secret)
        if password:
            click.echo(f"demo admin: {email}  password: {password}  (also in {secret})")
        else:
            click.echo(f"demo admin: {email} (its password is in {secret})")
    if host in LOOPBACK and "CAREMARKET_SECURE_COOKIES" not in os.environ:
        # Plain HTTP on this machine only: a Secure cookie would not be sent back over
        # http://127.0.0.1. Behind TLS (any other host), session cookies stay Secure.
        os.environ["CAREMARKET_SECURE_COOKIES"] = "0"
    os.environ["CAREMARKET_DB"] = str(obj.db_path)  # what --db chose, for the app factory
    app = create_app()
    click.echo(f"serving on http://{host}:{port}/ (store {obj.db_path})")
    serve(app, host=host, port=port, threads=threads, ident="caremarket")
