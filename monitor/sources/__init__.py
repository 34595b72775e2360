"""Built-in sources, one module each; module name = entry-point name = config `type`.

A source sees only `monitor.models`, `monitor.errors`, `monitor.plugins` and its own library.
"""
