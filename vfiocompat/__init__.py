"""vfiocompat: can this VFIO device's migration state go to that device? Ask before migrating.

The Python API::

    >>> import vfiocompat
    >>> verdict = vfiocompat.check(source_device_version, target_device_version)
    >>> verdict.compatible, [reason.code for reason in verdict.reasons]

:func:`check` and :func:`explain` use a registry of the installed plugins, loaded on first
use; callers that check many pairs, or want other plugins, make their own :class:`Registry`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

if TYPE_CHECKING:  # the names below are loaded on first use (see __getattr__); type checkers see them here
    from ._device_version import MAX_LENGTH, DeviceVersion, parse
    from ._explanation import ConditionResult, Explanation, RuleTrial
    from ._registry import Registry, Resolution
    from ._verdict import MODES, Reason, RuleRef, RuleWarning, Verdict
    from .errors import (
        DeviceFactMissing,
        DeviceVersionError,
        FieldFormatError,
        LimitError,
        PluginError,
        TableError,
        UsageError,
        VfiocompatError,
    )
    from .hookspecs import hookimpl

__all__ = [
    "__version__",
    "MAX_LENGTH",
    "DeviceVersion",
    "parse",
    "check",
    "explain",
    "default_registry",
    "Registry",
    "Resolution",
    "hookimpl",
    "MODES",
    "Verdict",
    "Reason",
    "RuleRef",
    "RuleWarning",
    "Explanation",
    "RuleTrial",
    "ConditionResult",
    "VfiocompatError",
    "DeviceVersionError",
    "DeviceFactMissing",
    "FieldFormatError",
    "TableError",
    "PluginError",
    "LimitError",
    "UsageError",
]

__version__ = "0.2.0"

# Public name -> its private module. Loading them on first use keeps ``import vfiocompat.X`` from
# importing the whole engine: a plugin importing ``hookimpl`` and a cold check pay for what they use.
_WHERE = {
    "MAX_LENGTH": "_device_version", "DeviceVersion": "_device_version", "parse": "_device_version",
    "Registry": "_registry", "Resolution": "_registry",
    "MODES": "_verdict", "Reason": "_verdict", "RuleRef": "_verdict", "RuleWarning": "_verdict", "Verdict": "_verdict",
    "ConditionResult": "_explanation", "Explanation": "_explanation", "RuleTrial": "_explanation",
    "DeviceFactMissing": "errors", "DeviceVersionError": "errors", "FieldFormatError": "errors",
    "LimitError": "errors", "PluginError": "errors", "TableError": "errors", "UsageError": "errors",
    "VfiocompatError": "errors",
    "hookimpl": "hookspecs",
}


def __getattr__(name: str) -> Any:
    return _load_lazily(__name__, _WHERE, globals(), name)


def _load_lazily(package: str, where: Mapping[str, str], namespace: Dict[str, Any], name: str) -> Any:
    """A package's public ``name`` from its module in ``where``, kept in the package's ``namespace`` once loaded."""
    module = where.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(import_module(f"{package}.{module}"), name)
    namespace[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *__all__})


_default: Optional[Registry] = None


def default_registry() -> Registry:
    """The registry of installed plugins (less ``VFIOCOMPAT_DISABLE_PLUGINS``), loaded once."""
    global _default
    if _default is None:
        from ._registry import Registry

        _default = Registry.from_environment()
    return _default


def check(source: str, target: str, mode: str = "live", strict: bool = False) -> Verdict:
    """Judge whether a device with device_version ``source`` can migrate to one with ``target``.

    ``mode``: a ``live`` (default) or ``cold`` migration; ``strict``: refuse a pair a warn rule warns about.
    """
    return default_registry().check(source, target, mode, strict)


def explain(source: str, target: str, mode: str = "live", strict: bool = False) -> Explanation:
    """The full diagnosis of ``source -> target``: every rule tried, nearest miss first."""
    return default_registry().explain(source, target, mode, strict)
