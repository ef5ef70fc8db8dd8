"""The modules of the ``poselift`` command (:mod:`poselift.cli`): its argument parser
(:mod:`.parser`), the output checks every command shares (:mod:`.checks`), and the commands
with logic of their own, one module each (:mod:`.lift`, :mod:`.video`, :mod:`.evaluate`).
They parse and print; the library does the work.
"""
