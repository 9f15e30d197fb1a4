"""Reading policy files: YAML that refuses duplicate keys, errors that name the place.

Dataset policies and the access policy are reviewed by people; PyYAML would silently keep
the last of two equal keys, so a reviewed file could mean something other than it reads.
Both are then validated the same way (:class:`PolicyKind`): one error that lists every
problem by key path, so a reviewer fixes the file in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from fivesafes.errors import PolicyError

PolicyModel = TypeVar("PolicyModel", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_policy_yaml(path: Path, noun: str) -> Any:
    """The YAML data in ``path``; :class:`PolicyError` names the file (and line) if not."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: {noun} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read {noun} file: {exc}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{path}: not valid YAML{where}: {problem}") from None


def key_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the key path a policy's author wrote
    (``providers.0.roles.X``); pydantic's ``[key]`` markers are not keys."""
    return ".".join(str(p) for p in loc if not str(p).startswith("[key]")) or "(top level)"


def problem_message(error: ErrorDetails | Any, *, enum_noun: str = "value") -> str:
    """Pydantic's message for one problem, in the words of a policy file's author."""
    if error["type"] == "extra_forbidden":
        return "unknown key (not allowed here)"
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] == "enum":
        return f"unknown {enum_noun} {error.get('input')!r}: {error['msg']}"
    return str(error["msg"]).removeprefix("Value error, ")


@dataclass(frozen=True, slots=True)
class PolicyKind(Generic[PolicyModel]):
    """One kind of policy file and how its problems are worded.

    Each kind words its key paths (``path``) and pydantic's errors (``message``) in its own
    terms; ``semantic_problems`` are its cross-field rules, as (key path, message) pairs.
    """

    model: type[PolicyModel]
    noun: str
    path: Callable[[tuple[int | str, ...]], str]
    message: Callable[[ErrorDetails], str]
    semantic_problems: Callable[[PolicyModel], list[tuple[str, str]]]

    def validate(self, data: dict[str, Any], source: str) -> PolicyModel:
        """``data`` as a policy of this kind, or one :class:`PolicyError` naming every problem.

        Cross-field rules run only on a policy whose every field is valid, since they
        read those fields.
        """
        try:
            policy = self.model.model_validate(data)
        except ValidationError as exc:
            lines = [f"{self.path(tuple(e['loc']))}: {self.message(e)}" for e in exc.errors()]
            raise PolicyError(self._listing(source, lines)) from None
        problems = self.semantic_problems(policy)
        if problems:
            lines = [f"{at}: {what}" for at, what in problems]
            raise PolicyError(self._listing(source, lines))
        return policy

    def _listing(self, source: str, lines: Sequence[str]) -> str:
        return f"{source}: invalid {self.noun}:\n  " + "\n  ".join(lines)
