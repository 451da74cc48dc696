"""Store commands: `init`, `import`, `serve`, `kinds`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from caremarket.cli import emit_json, reports_errors


@click.command("init")
@click.option("--sample", is_flag=True, help="Load the embedded sample market.")
@click.option("--seed", type=int, default=42, show_default=True, help="Sample market seed.")
@click.option("--devon", "devon", type=click.Path(exists=True, file_okay=False), default=None,
              help="Load the Devon real-data case from this folder (../shared/data/devon).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def init_cmd(obj, sample: bool, seed: int, devon: str | None, as_json: bool) -> None:
    """Create the store (and load the sample market with --sample, or Devon with --devon)."""
    from caremarket.migrations import current_version

    db = obj.db
    out = {"db": str(obj.db_path), "schema_version": current_version(db), "imports": []}
    if sample:
        from data.generate import load_sample

        out["imports"] = [s.to_dict() for s in load_sample(db, seed=seed)]
    if devon:
        from data.devon import load_devon

        out["imports"] += [s.to_dict() for s in load_devon(db, devon)]
    if as_json:
        emit_json(out)
        return
    click.echo(f"store {obj.db_path} at schema version {out['schema_version']}")
    for s in out["imports"]:
        click.echo(f"  {s['kind']}: {s['records']} records")


@click.command("import")
@click.argument("kind")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--user", default=None, help="Who is importing (recorded in the history).")
@click.pass_obj
@reports_errors
def import_cmd(obj, kind: str, file: str, as_json: bool, user: str | None) -> None:
    """Import FILE as KIND (see `caremarket kinds`): all rows or none."""
    from caremarket.importers import KINDS, import_file

    if kind not in KINDS:
        raise click.BadParameter(f"'{kind}'; choose from {', '.join(KINDS)}", param_hint="KIND")
    if not Path(file).exists():
        raise click.BadParameter(f"no such file: {file}", param_hint="FILE")
    summary = import_file(obj.db, kind, file, user=user or os.environ.get("USER"))
    if as_json:
        emit_json(summary.to_dict())
    else:
        click.echo(summary.text())


@click.command("kinds")
def kinds_cmd() -> None:
    """List the import kinds and what each reads."""
    from caremarket.importers import KINDS

    for k in KINDS.values():
        click.echo(f"{k.name:20} {k.description}")


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
    from waitress import serve

    from web import create_app

    port = port or int(os.environ.get("PORT") or 5000)
    db = obj.db
    if sample and db["zones"].count == 0:
        from data.generate import load_sample

        load_sample(db)
        click.echo("loaded the sample market")
    if sample:
        from caremarket.accounts import ensure_demo_admin

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


def register(cli: click.Group) -> None:
    for cmd in (init_cmd, import_cmd, kinds_cmd, serve_cmd):
        cli.add_command(cmd)



