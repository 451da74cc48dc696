"""Store commands: `init`, `import`, `kinds` (`serve` is web.cli's)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from caremarket import undo
from caremarket.cases import load_devon, load_sample
from caremarket.cli import emit_json, reports_errors
from caremarket.importers import KINDS, import_file, rejected_imports, template_csv
from caremarket.migrations import current_version


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

    db = obj.db
    out = {"db": str(obj.db_path), "schema_version": current_version(db), "imports": []}
    if sample:
        out["imports"] = [s.to_dict() for s in load_sample(db, seed=seed)]
    if devon:
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
@click.option("--sheet", default=None, metavar="NAME",
              help="The sheet of an XLSX workbook to read (default: its first sheet).")
@click.option("--cascade", is_flag=True,
              help="With `import revert ID`: revert the later imports that changed the same "
                   "rows first, newest first.")
@click.pass_obj
@reports_errors
def import_cmd(obj, kind: str, file: str, as_json: bool, user: str | None,
               sheet: str | None, cascade: bool) -> None:
    """Import FILE as KIND (see `caremarket kinds`): all rows or none.

    `caremarket import revert ID [--cascade]` restores the store as it was before import ID."""

    if kind == "revert":
        try:
            import_id = int(file)
        except ValueError:
            raise click.BadParameter(f"'{file}' is not an import id (a whole number; see "
                                     "`caremarket imports`)", param_hint="ID") from None
        out = undo.revert(obj.db, import_id, user or os.environ.get("USER"), cascade)
        if as_json:
            emit_json(out)
        else:
            for r in out["reverted"]:
                click.echo(f"reverted import #{r['import_id']}: {r['changes']} row change(s) "
                           "undone")
        return
    if kind not in KINDS:
        raise click.BadParameter(f"'{kind}'; choose from {', '.join(KINDS)}", param_hint="KIND")
    if not Path(file).exists():
        raise click.BadParameter(f"no such file: {file}", param_hint="FILE")
    summary = import_file(obj.db, kind, file, user=user or os.environ.get("USER"), sheet=sheet)
    if as_json:
        emit_json(summary.to_dict())
    else:
        click.echo(summary.text())


@click.command("kinds")
@click.option("--template", "template", metavar="KIND",
              help="Print the template of KIND instead: a CSV with its columns and one example "
                   "row, which imports as it stands.")
@reports_errors
def kinds_cmd(template: str | None) -> None:
    """List the import kinds and what each reads (or print one kind's template CSV)."""

    if template:
        click.echo(template_csv(template), nl=False)
        return
    for k in KINDS.values():
        click.echo(f"{k.name:20} {k.description}")


@click.command("imports")
@click.option("--rejected", is_flag=True, help="List the rejected files instead.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def imports_cmd(obj, rejected: bool, as_json: bool) -> None:
    """The import history (newest first): accepted and reverted imports, or rejected files."""

    if rejected:
        items = rejected_imports(obj.db)
    else:
        items = [dict(r) for r in obj.db["imports"].rows_where(order_by="id desc")]
    if as_json:
        emit_json({"items": items})
        return
    for r in items:
        if rejected:
            first = r["problems"][0]["message"] if r.get("problems") else ""
            click.echo(f"{r['finished_at']}  {r['kind']:18} {r['file_name']}  "
                       f"{r['problems_total']} problem(s): {first}")
        else:
            click.echo(f"#{r['id']:<5} {r['status']:9} {r['finished_at']}  {r['kind']:18} "
                       f"{r['file_name']}  {r['records']} record(s)  {r['user'] or ''}")


def register(cli: click.Group) -> None:
    for cmd in (init_cmd, import_cmd, imports_cmd, kinds_cmd):
        cli.add_command(cmd)



