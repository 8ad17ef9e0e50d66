"""Reporting v13 (REST) for the emulator: Submit/Poll, report files, the storage origin.

Reached through ``Emulator.reporting`` (:class:`~.service.ReportingService`); see docs/emulator.md.
Modules: :mod:`.request` (validation with the service's codes), :mod:`.world` (entities and deterministic
metrics, restatement), :mod:`.columns` (value formats per column), :mod:`.files` (Microsoft's file layout),
:mod:`.storage` (the second origin), :mod:`.errors` (fault codes and bodies).
"""
