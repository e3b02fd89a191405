"""``/help``: the table of commands, with the levels this repository's configuration sets."""

from __future__ import annotations

from trunkline.commands.feedback import help_table, inline_code
from trunkline.commands.invocation import Invocation, Outcome, ok
from trunkline.commands.registry import command


@command("help", summary="List the commands, their arguments and who can run them.", level="read")
def help_command(inv: Invocation) -> Outcome:
    session = inv.session
    specs = session.registry.specs()
    table = help_table(specs, session.levels, session.prefix)
    known = {spec.config_key for spec in specs} | {spec.name for spec in specs}
    unknown = sorted(set(session.config.commands.permissions) - known)
    if unknown:
        table += ("\n\n`commands.permissions` in the configuration names commands that do not exist: "
                  + ", ".join(inline_code(name) for name in unknown) + ".")
    return ok("the commands are listed below.", details=table)
