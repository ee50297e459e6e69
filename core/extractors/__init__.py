"""Every public module in this package registers one function with ``core.registry``.

The registry imports them on demand (``get_*(name)`` loads ``<name>.py``; anything listing the
whole family loads every module), so importing the package alone registers nothing.
"""
