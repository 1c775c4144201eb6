"""Regression (issue 16, defect 6): no attribute of one of our Qt classes may shadow a Qt base-class method.

PySide looks a C++ virtual up by name on the Python object, instance attributes included:
``BacktestDialog.metric`` (a QComboBox) replaced ``QPaintDevice::metric()``, which Qt calls while painting,
and Backtest… killed the terminal (SIGSEGV). A shadowed non-virtual (``QDialog.result()``) breaks every
caller expecting Qt's method. This walks every class defined in ``app/widgets`` with a Qt base (QObject
or not: a QGraphicsItem's virtuals are looked up the same way): its class attributes and methods, and every
``self.x = ...`` in its code, against the names of its Qt bases.

Overriding is allowed for the virtuals Qt means to be overridden (``*Event`` handlers, ``sizeHint``, ...),
as methods only; anything else needs an entry in ``ALLOWED`` with its reason.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
import textwrap

import app.widgets

VIRTUALS = {"event", "eventFilter", "sizeHint", "minimumSizeHint", "heightForWidth", "hasHeightForWidth",
            "accept", "reject", "done",
            "rowCount", "columnCount", "data", "headerData"}  # (a table model's) plus every ``*Event`` handler
ALLOWED: dict[tuple[str, str], str] = {}  # (class, name) -> why this shadowing is meant
SKIP = {"staticMetaObject"}  # PySide sets it on every subclass


def is_qt(cls: type) -> bool:
    return cls.__module__.startswith(("PySide6", "shiboken6"))


def widget_classes() -> list[type]:
    for mod in pkgutil.iter_modules(app.widgets.__path__):
        importlib.import_module(f"app.widgets.{mod.name}")
    found = []
    for name, module in sorted(sys.modules.items()):
        if name.startswith("app.widgets."):
            found += [c for c in vars(module).values()
                      if inspect.isclass(c) and c.__module__ == name and any(map(is_qt, c.__mro__[1:]))]
    return found


def instance_attributes(cls: type) -> dict[str, int]:
    """Names assigned as ``self.<name> = ...`` (also in tuples, ``+=``, annotations) in the class's own
    methods, with the file's line of the first assignment."""
    lines, first = inspect.getsourcelines(cls)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    (klass,) = tree.body
    found: dict[str, int] = {}
    for fn in klass.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or not fn.args.args:
            continue
        me = fn.args.args[0].arg
        stack = list(fn.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.ClassDef):
                continue
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                    and isinstance(node.value, ast.Name) and node.value.id == me):
                found.setdefault(node.attr, first + node.lineno - 1)
            stack.extend(ast.iter_child_nodes(node))
    return found


def qt_definer(cls: type, name: str) -> str | None:
    """The nearest Qt base that defines ``name`` (None: no Qt base has it)."""
    qt = [b for b in cls.__mro__ if is_qt(b)]
    return next((b.__name__ for b in qt if name in vars(b)), None) or \
        next((b.__name__ for b in qt if hasattr(b, name)), None)


def shadowing(cls: type) -> list[str]:
    """What of ``cls`` shadows a Qt name, as readable lines; deliberate overrides and ALLOWED excepted."""
    out = []
    for name, value in vars(cls).items():
        if (name.startswith("__") and name.endswith("__")) or name in SKIP:
            continue
        qt = qt_definer(cls, name)
        deliberate = inspect.isfunction(value) and (name.endswith("Event") or name in VIRTUALS)
        if qt and not deliberate and (cls.__name__, name) not in ALLOWED:
            out.append(f"{cls.__module__}.{cls.__name__}.{name} (class attribute) shadows {qt}.{name}")
    for name, line in instance_attributes(cls).items():
        qt = qt_definer(cls, name)
        if qt and (cls.__name__, name) not in ALLOWED:
            out.append(f"{cls.__module__}.{cls.__name__}: self.{name} (line {line}) shadows {qt}.{name}")
    return out


def test_no_widget_attribute_shadows_a_qt_method(qtbot):
    classes = widget_classes()
    assert len(classes) >= 20  # every module of the package was imported and walked
    problems = [p for cls in classes for p in shadowing(cls)]
    assert not problems, "Qt methods shadowed (rename the attribute):\n" + "\n".join(problems)


def test_every_allowed_entry_is_still_needed(qtbot):
    names = {(c.__name__, n) for c in widget_classes() for n in list(vars(c)) + list(instance_attributes(c))
             if qt_definer(c, n)}
    assert set(ALLOWED) <= names, f"stale ALLOWED entries: {set(ALLOWED) - names}"


def test_the_check_sees_a_shadowing_instance_attribute(qtbot):
    """The walker itself: the bug of defect 6, in a class of its own."""
    from PySide6.QtWidgets import QComboBox, QDialog

    class Dialog(QDialog):
        def __init__(self) -> None:
            super().__init__()
            self.metric, self.fine = QComboBox(), 1

        def paintEvent(self, ev) -> None:  # noqa: N802 - a deliberate override
            super().paintEvent(ev)

    line = inspect.getsourcelines(Dialog)[1] + 3
    found = [p.split(": ", 1)[1] for p in shadowing(Dialog)]
    assert found == [f"self.metric (line {line}) shadows QWidget.metric"]
