"""The free-text classifier: TF-IDF of character and word n-grams under a logistic regression,
run as plain numpy weights. Trained from the shipped examples by `wattdesk nlu train`, which
writes the weights beside them; a process loads those (or trains afresh when the examples
changed since, and says so)."""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from billing_core.conversations.nlu.normalise import normalise

log = logging.getLogger("wattdesk.nlu")
TRAINING_DATA = Path(__file__).with_name("data") / "train.tsv"
TRAINED_MODEL = Path(__file__).with_name("data") / "model.npz"

# Misspelt key words are corrected to these before classification ("bil", "usgae", "lnk").
KEY_WORDS = (
    "bill", "bills", "balance", "statement", "invoice", "owe", "amount", "due", "pay",
    "payment", "link", "usage", "used", "units", "kwh", "electricity", "electric", "power",
    "outage", "blackout", "lights", "meter", "reading", "readings", "submit", "agent", "human",
    "person", "operator", "representative", "someone", "customer", "service", "complaint",
    "wrong", "incorrect", "overcharged", "charged", "mistake", "error", "dispute", "later",
    "extension", "installments", "instalments", "arrangement", "plan", "afford", "account",
    "english", "chinese", "language", "help", "menu", "options", "subscribe", "texts",
    "messages", "please", "month", "monthly", "consumption", "verification", "code",
)  # fmt: skip
_FUZZY_CUTOFF = 80
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_SEGMENT = re.compile(rf"(?P<cjk>[{_HAN}]+)|(?P<word>[^\s{_HAN}]+)")
# The regression's inverse regularisation: high enough to fit the rare phrasings, low enough
# that the probabilities stay a usable confidence.
_C = 20.0


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str


def read_examples(path: Path) -> list[Example]:
    """Lines of `text<TAB>intent<TAB>language`; blank lines and `#` comments are skipped."""
    examples = []
    with path.open(encoding="utf-8", newline="") as lines:
        for row in csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE):
            if not row or not row[0].strip() or row[0].startswith("#"):
                continue
            text, intent, language = [*row, "", ""][:3]
            examples.append(Example(text, intent.strip(), language.strip()))
    return examples


class Model:
    """A trained classifier: the feature vocabulary, IDF weights and the regression's weights."""

    def __init__(
        self,
        *,
        labels: list[str],
        vocabulary: dict[str, int],
        idf: np.ndarray,
        weights: np.ndarray,
        bias: np.ndarray,
        known_words: frozenset[str],
    ) -> None:
        self.labels = labels
        self.vocabulary = vocabulary
        self.idf = idf
        self.weights = weights  # features x labels
        self.bias = bias
        self.known_words = known_words

    def save(self, path: Path, *, data_sha256: str) -> None:
        """The weights and vocabulary in one compressed numpy file, with the digest of the
        examples they were trained on."""
        np.savez_compressed(
            path,
            labels=np.array(self.labels),
            features=np.array(sorted(self.vocabulary, key=self.vocabulary.__getitem__)),
            idf=self.idf,
            weights=self.weights,
            bias=self.bias,
            known_words=np.array(sorted(self.known_words)),
            data_sha256=np.array(data_sha256),
        )

    @classmethod
    def load(cls, path: Path) -> tuple[Model, str]:
        """A saved model and the digest of the examples it was trained on."""
        with np.load(path, allow_pickle=False) as saved:
            features = [str(f) for f in saved["features"]]
            return cls(
                labels=[str(label) for label in saved["labels"]],
                vocabulary={feature: i for i, feature in enumerate(features)},
                idf=saved["idf"].astype(np.float32),
                weights=np.ascontiguousarray(saved["weights"], dtype=np.float32),
                bias=saved["bias"].astype(np.float32),
                known_words=frozenset(str(w) for w in saved["known_words"]),
            ), str(saved["data_sha256"])

    def scores(self, text: str) -> np.ndarray:
        """The probability of each label (in `labels` order) for a normalised text."""
        counts = Counter(features(text, self.known_words))
        index = self.vocabulary
        ids = [index[f] for f in counts if f in index]
        if not ids:
            logits = self.bias
        else:
            values = np.fromiter(
                (1.0 + math.log(counts[f]) for f in counts if f in index),
                dtype=np.float32,
                count=len(ids),
            )
            values *= self.idf[ids]
            values /= math.sqrt(float((values * values).sum()))
            # an elementwise product and a sum, not a matrix product: no BLAS call (and no
            # BLAS threads waking) for a vector of a few dozen features
            logits = (self.weights[ids] * values[:, None]).sum(axis=0) + self.bias
        exp = np.exp(logits - logits.max())
        result: np.ndarray = exp / exp.sum()
        return result


@lru_cache(maxsize=4096)
def _correct(word: str) -> str:
    match = process.extractOne(word, KEY_WORDS, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
    return word if match is None else match[0]


def _number(match: re.Match[str]) -> str:
    digits = len(match[0])
    if "." in match[0]:
        return " #. "
    return " #6 " if digits == 6 else " #s " if digits < 4 else " #l " if digits > 6 else " # "


def features(text: str, known_words: frozenset[str] = frozenset()) -> list[str]:
    """Character 1-3-grams of each Chinese run; each English word (a misspelt key word
    corrected), word bigrams and the word's character 3-4-grams; a number as its kind: a
    6-digit code (#6), a reading's 4-5 digits (#), a decimal (#.), short (#s), long (#l)."""
    text = _NUMBER.sub(_number, text)
    found: list[str] = []
    previous = ""
    for match in _SEGMENT.finditer(text):
        run = match["cjk"]
        if run is not None:
            previous = ""
            n = len(run)
            found.extend(run)
            found.extend(run[i : i + 2] for i in range(n - 1))
            found.extend(run[i : i + 3] for i in range(n - 2))
            continue
        word = match["word"]
        if known_words and word not in known_words and len(word) >= 3 and word.isalpha():
            word = _correct(word)
        found.append(f"w:{word}")
        if previous:
            found.append(f"b:{previous} {word}")
        previous = word
        if len(word) >= 3:
            padded = f"<{word}>"
            found.extend(padded[i : i + 3] for i in range(len(padded) - 2))
            found.extend(padded[i : i + 4] for i in range(len(padded) - 3))
    return found


def train(examples: list[Example]) -> Model:
    """Fit the classifier on examples (their text normalised as a message's is)."""
    from scipy.sparse import csr_matrix  # training only: not imported to classify
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    texts = [normalise(example.text) for example in examples]
    known_words = frozenset(
        word for text in texts for word in _NUMBER.sub(_number, text).split() if word.isascii()
    )
    rows = [Counter(features(text, known_words)) for text in texts]
    document_frequency: Counter[str] = Counter(f for row in rows for f in row)
    vocabulary = {f: i for i, f in enumerate(sorted(document_frequency))}
    n = len(rows)
    idf = np.array(
        [math.log((1 + n) / (1 + document_frequency[f])) + 1.0 for f in sorted(document_frequency)],
        dtype=np.float32,
    )
    data: list[float] = []
    indices: list[int] = []
    indptr = [0]
    for row in rows:
        ids = [vocabulary[f] for f in row]
        values = np.array([1.0 + math.log(c) for c in row.values()]) * idf[ids]
        values /= max(float(np.sqrt(values @ values)), 1e-12)
        data.extend(values.tolist())
        indices.extend(ids)
        indptr.append(len(indices))
    matrix = csr_matrix((data, indices, indptr), shape=(n, len(vocabulary)), dtype=np.float64)
    labels = sorted({example.intent for example in examples})
    target = [labels.index(example.intent) for example in examples]
    regression = LogisticRegression(C=_C, max_iter=2000)
    with threadpool_limits(1):  # BLAS threads only contend on a small problem like this
        regression.fit(matrix, target)
    return Model(
        labels=[labels[int(c)] for c in regression.classes_],
        vocabulary=vocabulary,
        idf=idf,
        weights=np.ascontiguousarray(regression.coef_.T, dtype=np.float32),
        bias=regression.intercept_.astype(np.float32),
        known_words=known_words,
    )


_LOCK = threading.Lock()
_MODEL: Model | None = None


def model() -> Model:
    """The process's classifier: the shipped weights when they were trained on the shipped
    examples, else trained now from the examples (a warning says to run `wattdesk nlu train`)."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                _MODEL = _shipped() or train(read_examples(TRAINING_DATA))
    return _MODEL


def data_digest(path: Path = TRAINING_DATA) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shipped() -> Model | None:
    if not TRAINED_MODEL.exists():
        log.warning("no trained recogniser at %s: training one now", TRAINED_MODEL)
        return None
    loaded, trained_on = Model.load(TRAINED_MODEL)
    if trained_on != data_digest():
        log.warning("the recogniser's examples changed since it was trained: training it now "
                    "(run `wattdesk nlu train` to save the weights)")  # fmt: skip
        return None
    return loaded


def train_and_save(path: Path = TRAINED_MODEL, data: Path = TRAINING_DATA) -> Model:
    """Train on the examples and write the weights where processes load them from."""
    trained = train(read_examples(data))
    trained.save(path, data_sha256=data_digest(data))
    return trained
