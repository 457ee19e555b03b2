"""`revcycle keys ...`: generate PHI encryption keys, rotate stored values, show which keys are in
use. See docs/phi-encryption.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from revcycle.crypto import keyring as phi_keyring
from revcycle.crypto import rotation
from revcycle.crypto.fields import DecryptionError

keys_app = typer.Typer(help="PHI encryption keys", no_args_is_help=True)


@keys_app.command("generate")
def keys_generate(
    key_id: Annotated[
        str | None, typer.Option(help="Id of the new key (default: kYYYYMMDD-xxxx)")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Add the key to this JSON key file (created mode 0600)")
    ] = None,
    activate: Annotated[bool, typer.Option(help="Make it the active key in the key file")] = False,
) -> None:
    """Generate a new 256-bit key: print it, or add it to a key file."""
    kid = key_id or phi_keyring.new_key_id()
    if not phi_keyring.KEY_ID_RE.match(kid):
        typer.echo(f"error: key ids match {phi_keyring.KEY_ID_RE.pattern}", err=True)
        raise typer.Exit(code=2)
    key = phi_keyring.new_key()
    if key_file is None:
        typer.echo(json.dumps({kid: key}))
        typer.echo(
            "add it to REVCYCLE_ENCRYPTION_KEYS (a JSON object of all keys) and, once every "
            f"process has it, set REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID={kid} and run "
            "`revcycle keys rotate`",
            err=True,
        )
        return
    keys: dict[str, str] = {}
    active: str | None = None
    if key_file.exists():
        try:
            data = json.loads(key_file.read_text(encoding="utf-8"))
            keys = dict(data["keys"])
            active = data.get("active_key_id")
        except (OSError, ValueError, KeyError, TypeError):
            typer.echo(f"error: {key_file} is not a revcycle key file", err=True)
            raise typer.Exit(code=1) from None
    if kid in keys:
        typer.echo(f"error: {key_file} already has a key {kid!r}", err=True)
        raise typer.Exit(code=1)
    keys[kid] = key
    if activate or active is None:
        active = kid
    phi_keyring.write_key_file(key_file, keys, active)
    typer.echo(f"added key {kid} to {key_file}; active key: {active}")


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction")] = 500,
) -> None:
    """Re-encrypt every value (and blind index) not under the active key. Online and idempotent."""
    import revcycle.models  # noqa: F401 - registers every table
    from revcycle.cli import runtime
    from revcycle.db import Base

    factory = runtime.session_factory()  # installs the keyring from the settings
    keys = phi_keyring.installed()
    try:
        report = rotation.rotate(factory, keys, Base.metadata, batch_size=batch_size)
    except (DecryptionError, phi_keyring.KeyringError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    for name, t in report.tables.items():
        typer.echo(
            f"{name}: {t.rows} row(s) rewritten, {t.values} value(s) re-encrypted, "
            f"{t.indexes} blind index value(s) recomputed"
        )
    typer.echo(f"active key {report.active_key_id}; {report.remaining} row(s) still to rotate")
    if report.remaining:
        typer.echo("some rows were busy or rewritten under another key: run it again", err=True)
        raise typer.Exit(code=1)


@keys_app.command("status")
def keys_status() -> None:
    """Stored values per key id (to know when an old key can be retired)."""
    import revcycle.models  # noqa: F401 - registers every table
    from revcycle.cli import runtime
    from revcycle.db import Base

    factory = runtime.session_factory()
    keys = phi_keyring.installed()
    typer.echo(f"keyring: {', '.join(keys.key_ids)}; active: {keys.active_key_id}")
    for kid, n in rotation.census(factory, Base.metadata).items():
        typer.echo(f"{kid}: {n} value(s)")
