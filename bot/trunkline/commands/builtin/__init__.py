"""Built-in commands: one module per command, each registering itself with ``@command``.

Every module here whose name does not start with ``_`` is imported by
:func:`trunkline.commands.registry.load_builtin`, so adding a command is adding a module.
"""
