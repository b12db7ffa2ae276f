"""The message catalogues: one gettext `.po` file per language under
`locale/{folder}/LC_MESSAGES/wattdesk.po`, read once with Babel at first use and kept.

A message's id is its key as the code names it (`bill_notice`); a label a channel shows beside
a message has the context `label`, a piece of a message the context `fragment`. Texts are
filled in with `str.format` ({account}), as before the catalogues: rendering does not go
through gettext, so the arrears ladder's hot path costs what it did."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import PoFileError, read_po

from billing_core.customers.model import Language
from billing_core.errors import InvalidInput

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "wattdesk"
# The catalogue folder of each language the customers may choose (gettext's names).
FOLDERS: dict[str, str] = {Language.zh_cn: "zh_CN", Language.en: "en"}
MESSAGE = ""  # the context of a whole message
LABEL = "label"
FRAGMENT = "fragment"
CONTEXTS = (MESSAGE, LABEL, FRAGMENT)

Texts = dict[str, dict[str, str]]  # key -> language -> text


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / FOLDERS[language] / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def read_catalogue(language: str) -> dict[tuple[str, str], str]:
    """The language's texts by (context, key), read once."""
    return parse_catalogue(catalogue_path(language))


def parse_catalogue(path: Path) -> dict[tuple[str, str], str]:
    """A `.po` file's texts by (context, key); a malformed file, an unknown context or an
    empty text is refused with the file and its line."""
    try:
        with path.open("rb") as file:
            catalog = read_po(file, locale=None, abort_invalid=True)
    except PoFileError as error:
        raise InvalidInput(f"{path}: {error}") from None
    texts: dict[tuple[str, str], str] = {}
    for message in catalog:
        if not message.id:
            continue  # the header
        context = message.context or MESSAGE
        where = f"{path}:{message.lineno}"
        if context not in CONTEXTS:
            raise InvalidInput(f"{where}: unknown msgctxt {context!r} (one of {CONTEXTS[1:]})")
        if not isinstance(message.id, str) or not isinstance(message.string, str):
            raise InvalidInput(f"{where}: plural forms are not used in wattdesk's messages")
        if not message.string:
            raise InvalidInput(f"{where}: {message.id!r} has no text")
        texts[(context, message.id)] = message.string
    return texts


def read_texts(context: str) -> Texts:
    """Every key of the context with its text in each language that has one."""
    by_key: Texts = {}
    for language in FOLDERS:
        for (ctx, key), text in read_catalogue(language).items():
            if ctx == context:
                by_key.setdefault(key, {})[language] = text
    return by_key
