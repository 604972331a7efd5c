"""The ``swarmtrust`` command: one console script whose sub-commands are owned by the packages.

It sits above every package (``node``, ``ledger``, ``verifier``, ``api``) so that none of them has
to import another just to be reachable from the command line.
"""
