"""Ways of training the distilled student, registered by name (`collar-kd train --method`).

Every method receives a StudentJob (one fold's training windows, its teachers, the student
without KD, the method's own settings) and returns a plain GRUStudent: whatever helpers a
method trains with (fake quantization, feature transforms, a generator) stay in its module, so
export and verify see the same student architecture for every method.

Each module of this folder registers one or more methods (see base.register); every module is
imported here, so a new method is one new file. `collar-kd train --help` and docs/methods.md
list them.
"""

from __future__ import annotations

import importlib
import pkgutil

from collar_kd.methods.base import (METHODS, Method, MethodResult, StudentJob, get_method,  # noqa: F401
                                    register, resolve_settings, train_student)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")


def method_names() -> tuple[str, ...]:
    return tuple(METHODS)
