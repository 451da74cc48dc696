"""Account commands: `user create|list|set-role|set-password`, `token create|list|revoke`."""

from __future__ import annotations

import sys

import click

from caremarket import accounts
from caremarket.cli import emit_json, reports_errors


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group("user")
def user_group() -> None:
    """Manage users (roles: viewer, analyst, admin)."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(accounts.ROLES), default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
@reports_errors
def user_create(obj, email: str, role: str, password_stdin: bool) -> None:
    """Create a user (the password is asked for, or read with --password-stdin)."""
    user = accounts.create_user(obj.db, email, _read_password(password_stdin), role)
    click.echo(f"created {user.email} ({user.role})")


@user_group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True)
@click.pass_obj
@reports_errors
def user_set_password(obj, email: str, password_stdin: bool) -> None:
    """Set a user's password."""
    accounts.set_password(obj.db, email, _read_password(password_stdin))
    click.echo(f"password set for {email}")


@user_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(accounts.ROLES))
@click.pass_obj
@reports_errors
def user_set_role(obj, email: str, role: str) -> None:
    """Change a user's role."""
    user = accounts.set_role(obj.db, email, role, actor="cli")
    click.echo(f"{user.email} is now {user.role}")


@user_group.command("disable")
@click.argument("email")
@click.pass_obj
@reports_errors
def user_disable(obj, email: str) -> None:
    """Disable a user: their sessions end at once and their API tokens stop working."""
    user = accounts.set_active(obj.db, email, False, actor="cli")
    click.echo(f"{user.email} is disabled")


@user_group.command("enable")
@click.argument("email")
@click.pass_obj
@reports_errors
def user_enable(obj, email: str) -> None:
    """Enable a disabled user again (they log in afresh)."""
    user = accounts.set_active(obj.db, email, True, actor="cli")
    click.echo(f"{user.email} is enabled")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def user_list(obj, as_json: bool) -> None:
    """List users."""
    users = [u.to_dict() for u in accounts.list_users(obj.db)]
    if as_json:
        emit_json({"users": users})
    else:
        for u in users:
            click.echo(f"{u['email']:40} {u['role']:8} {'active' if u['active'] else 'disabled'}")


@click.group("token")
def token_group() -> None:
    """Manage API tokens (sent as 'Authorization: Bearer TOKEN')."""


@token_group.command("create")
@click.option("--user", "email", required=True, help="E-mail of the token's owner.")
@click.option("--name", default="api", show_default=True, help="A label for the token.")
@click.pass_obj
@reports_errors
def token_create(obj, email: str, name: str) -> None:
    """Create a token; the token itself is printed alone on the last line (shown only once)."""
    token, record = accounts.create_token(obj.db, email, name, actor="cli")
    click.echo(f"token {record['id']} '{name}' for {email} (store it now: it is not shown again)")
    click.echo(token)


@token_group.command("list")
@click.option("--user", "email", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def token_list(obj, email: str | None, as_json: bool) -> None:
    """List tokens (never the tokens themselves)."""
    uid = None
    if email:
        user = accounts.get_user_by_email(obj.db, email)
        if not user:
            raise accounts.AccountError(f"no user '{email}'")
        uid = user.id
    tokens = accounts.list_tokens(obj.db, uid)
    if as_json:
        emit_json({"tokens": tokens})
    else:
        for t in tokens:
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
            click.echo(f"{t['id']:5} {t['prefix']}... {t['name']:20} user {t['user_id']} {state}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@click.pass_obj
@reports_errors
def token_revoke(obj, token_id: int) -> None:
    """Revoke a token by its id."""
    admin = accounts.User(0, "cli", "admin")
    accounts.revoke_token(obj.db, token_id, admin)
    click.echo(f"token {token_id} revoked")


def register(cli: click.Group) -> None:
    cli.add_command(user_group)
    cli.add_command(token_group)
