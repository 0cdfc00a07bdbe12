"""Strict YAML loading shared by every configuration.

Every configuration is a pydantic model that forbids unknown keys (:class:`StrictModel`), so a typo
in a YAML file is an error naming the file and the key's path, e.g.::

    configs/x.yaml: invalid DetectorRecipe
      optim.max_stepz: unknown key

Duplicate keys in a mapping are errors too (PyYAML would silently keep the last one). Units:
seconds and Hz; relative paths are relative to the working directory, not to the YAML file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Constrained numbers used by the sections.
PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """A configuration section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ConfigError(ValueError):
    """A configuration is unreadable or invalid; the message names the file and every bad key."""


_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] in _UNKNOWN else e["msg"]
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def parse_config(raw: dict[str, Any] | None, kind: type[Model], source: str = "config") -> Model:
    """Validate a mapping as ``kind``.

    Raises:
        ConfigError: ``"{source}: invalid {kind}"`` followed by one ``path.to.key: problem`` line
            per bad key.
    """
    try:
        return kind.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid {kind.__name__}\n{_format(err)}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty file: ``{}``).

    Raises:
        ConfigError: unreadable file, invalid YAML, duplicate key, or not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise ConfigError(f"{path}: cannot read YAML ({err})") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: cannot read YAML ({err})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """``raw`` with dotted keys replaced (``{"optim.max_steps": 5}``); missing sections are made.

    Raises:
        ConfigError: a dotted key runs through a value that is not a mapping.
    """
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, last = dotted.split(".")
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                where = ".".join(parents[: depth + 1])
                raise ConfigError(f"override {dotted}: {where} is not a mapping")
        node[last] = value
    return raw


def load_config(
    path: str | Path, kind: type[Model], overrides: dict[str, Any] | None = None
) -> Model:
    """Read a YAML file as ``kind``, with optional dotted-key ``overrides`` applied first.

    Raises:
        ConfigError: see :func:`read_yaml` and :func:`parse_config` (the message names ``path``).
    """
    raw = apply_overrides(read_yaml(path), overrides)
    return parse_config(raw, kind, str(path))


def to_yaml(config: BaseModel) -> str:
    """``config`` with every default filled in, as YAML in field order."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    data = plain(config.model_dump(mode="python"))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
