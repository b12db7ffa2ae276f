"""Policy files: versioned YAML data loaded at start and validated, never constants in code.

Each feature declares its policy as a pydantic model next to its rules; `load_policy` reads
`<policy_dir>/<name>.yaml`, validates it and reports every bad field by its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from billing_core.errors import InvalidInput

PolicyT = TypeVar("PolicyT", bound=BaseModel)

# The repository's own policies/ and tariffs/ folders (the defaults for the settings).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY_DIR = PROJECT_ROOT / "policies"
DEFAULT_TARIFF_DIR = PROJECT_ROOT / "tariffs"


class PolicyError(InvalidInput):
    """A policy file is missing, not YAML, or has invalid fields (each named by its path)."""


def load_policy(name: str, model: type[PolicyT], directory: Path = DEFAULT_POLICY_DIR) -> PolicyT:
    path = directory / f"{name}.yaml"
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} is missing") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None
    return parse_policy(raw, model, source=str(path))


def parse_policy(raw: Any, model: type[PolicyT], *, source: str = "policy") -> PolicyT:
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise PolicyError(f"{source}:\n  " + "\n  ".join(problems)) from None
