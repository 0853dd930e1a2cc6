"""``mcp-router token doctor [--json]``: why a secure store can or cannot be used here."""

from __future__ import annotations

import click

from mcp_router.cli.context import AppContext
from mcp_router.cli.output import dumps
from mcp_router.errors import StorageUnavailableError

__all__ = ["doctor"]

pass_app = click.make_pass_decorator(AppContext, ensure=True)
_NAME_WIDTH = 28


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the platform's secure stores and say which one is used, and why.

    Exits with status 6 when no secure storage is usable with the current settings.
    """
    from mcp_router.secure.doctor import Report, diagnose

    report: Report = diagnose(app.settings())
    if as_json:
        click.echo(dumps(report.to_json()))
    else:
        click.echo(_text(report))
    if not report.usable:
        raise StorageUnavailableError(
            "no secure storage is usable with these settings",
            hint="see the FAIL lines of 'mcp-router token doctor'",
        )


def _text(report: object) -> str:
    from mcp_router.secure.doctor import Report

    assert isinstance(report, Report)
    lines = []
    for check in report.checks:
        lines.append(f"{check.status.value:<5} {check.name:<{_NAME_WIDTH}} {check.detail}")
        if check.fix and check.status.value != "OK":
            lines.append(f"{'':<5} {'':<{_NAME_WIDTH}} fix: {check.fix}")
    lines.append("")
    if report.auto_backend:
        lines.append(f"auto picks: {report.auto_backend} ({report.auto_reason})")
        for name, why in report.rejected.items():
            lines.append(f"  rejected {name}: {why}")
    if report.backend and report.usable:
        lines.append(f"tokens are stored in: {report.backend_description}")
    return "\n".join(lines)
