"""Built-in notifiers, one module each; module name = entry-point name = config `type`.

A notifier sees only `monitor.models`, `monitor.errors`, `monitor.plugins` and its own library.
"""
