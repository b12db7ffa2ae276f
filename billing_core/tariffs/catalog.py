"""The shipped tariffs: every YAML file in a directory, validated and compiled at start, found
by code (the file name's stem)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from billing_core.tariffs.model import Tariff, TariffError, UnknownTariff
from billing_core.tariffs.schema import load_tariff

# tariffs/ at the top of the repository (next to billing_core/).
SHIPPED_TARIFFS_DIR = Path(__file__).resolve().parents[2] / "tariffs"


class TariffCatalog:
    """Tariffs by code. Loading checks every file and reports all problems at once."""

    def __init__(self, tariffs: Mapping[str, Tariff]) -> None:
        self._tariffs = dict(tariffs)

    @classmethod
    def load(cls, directory: Path | str = SHIPPED_TARIFFS_DIR) -> TariffCatalog:
        folder = Path(directory)
        if not folder.is_dir():
            raise TariffError([f"{folder}: no such tariff directory"])
        tariffs: dict[str, Tariff] = {}
        problems: list[str] = []
        for path in sorted(folder.glob("*.yaml")):
            try:
                tariffs[path.stem] = load_tariff(path)
            except TariffError as exc:
                problems.extend(f"{path.name}: {line}" for line in exc.problems)
        if problems:
            raise TariffError(problems, source=str(folder))
        return cls(tariffs)

    def get(self, code: str) -> Tariff:
        try:
            return self._tariffs[code]
        except KeyError:
            known = ", ".join(sorted(self._tariffs)) or "none"
            raise UnknownTariff(f"no tariff {code!r} (known: {known})") from None

    def codes(self) -> list[str]:
        return sorted(self._tariffs)

    def __contains__(self, code: object) -> bool:
        return code in self._tariffs

    def __iter__(self) -> Iterator[Tariff]:
        return iter(self._tariffs[code] for code in self.codes())

    def __len__(self) -> int:
        return len(self._tariffs)
