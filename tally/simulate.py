"""Simulate a Penguin-Watch-like Zooniverse project: exports, ground truth and configs.

:func:`simulate` writes, into one directory, what a research team downloads from the Zooniverse
project builder plus what they never get, the truth:

``penguin-watch-sim-workflows.csv``
    a Panoptes workflow export (one row per workflow version, the real column set, ``tasks`` and
    ``strings`` as PFE stores them, keys in Postgres ``jsonb`` order);
``penguin-watch-sim-classifications.csv``
    a Panoptes classification export of the latest version (the real 14 columns, PFE v1 annotations
    exactly as the export formatter writes them: drawing marks with ``tool``, ``frame``, ``x``,
    ``y``, ``details`` and ``tool_label``; question values as label strings; the shortcut as a
    list of label strings with a null ``task_label``);
``penguin-watch-sim-ground-truth.jsonl``
    one line per subject: true penguin positions per frame, kind and posture, the true answer to
    the question, and how many classifications the subject received;
``Extractor_config_*.yaml``, ``Reducer_config_*_<extractor>.yaml``, ``Task_labels_*.yaml``
    the configs ``panoptes_aggregation config`` writes for this workflow, except that the point
    reducer is ``point_reducer_hdbscan`` with ``min_cluster_size: 4, min_samples: 3``;
``simulation.json``
    the parameters and a few counts (anonymous share, repeats, empty subjects, marks).

The workflow: ``T0`` a drawing task with two point tools (0 "Adult" with a single-answer subtask
"standing or lying down?", 1 "Chick") on subjects of one or two frames, linked to the shortcut
``T2`` ("Nothing here"); ``T1`` a single-answer question about visibility.

The volunteers: registered users with a Zipf-like activity and a skill drawn per user, plus
anonymous sessions (empty ``user_id``, ``user_name`` ``not-logged-in-<ip hash>``). Skill sets how
often a penguin is missed, how far marks land from it (further for penguins far from the camera,
i.e. near the top of the image, where they look smaller), how often a chick is called an adult,
how many false marks and double clicks appear, and how reliable the answers are. Empty images
are usually answered with the shortcut; a few volunteers classify a subject twice.

Classifications come out in time order (``created_at`` and ``classification_id`` increase) from
concurrent sessions drawing subjects from a pool of active subjects that retire after their
quota, so memory stays flat whatever the size: 1,000,000 classifications (about 2.4 GB) stream
straight to disk. Everything is a function of ``seed``: the same seed gives identical bytes.

>>> import tempfile, csv
>>> with tempfile.TemporaryDirectory() as d:
...     summary = simulate(d, SimulationParams(classifications=300, seed=1))
...     with open(summary.classifications_csv, newline="") as f:
...         rows = list(csv.DictReader(f))
>>> len(rows), rows[0]["workflow_name"], rows[0]["workflow_version"]
(300, 'Mark the penguins', '46.103')
>>> summary.counts["subjects"]
20
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

__all__ = [
    "CLASSIFICATION_COLUMNS",
    "WORKFLOW_COLUMNS",
    "SimulationParams",
    "SimulationSummary",
    "simulate",
    "workflow_tasks",
]

PROJECT_SLUG = "penguin-watch-sim"
WORKFLOW_NAME = "Mark the penguins"

CLASSIFICATION_COLUMNS = (
    "classification_id",
    "user_name",
    "user_id",
    "user_ip",
    "workflow_id",
    "workflow_name",
    "workflow_version",
    "created_at",
    "gold_standard",
    "expert",
    "metadata",
    "annotations",
    "subject_data",
    "subject_ids",
)

WORKFLOW_COLUMNS = (
    "workflow_id",
    "display_name",
    "version",
    "active",
    "classifications_count",
    "pairwise",
    "grouped",
    "prioritized",
    "primary_language",
    "first_task",
    "tutorial_subject_id",
    "retired_set_member_subjects_count",
    "tasks",
    "retirement",
    "aggregation",
    "strings",
    "minor_version",
)

# (version, minor_version) history of the workflow; classifications use the last one.
WORKFLOW_VERSIONS = ((44, 97), (45, 101), (46, 103))

IMAGE_WIDTH = 2048
IMAGE_HEIGHT = 1536
# The colony starts below the horizon: nothing is placed in the top SKY fraction of the image.
SKY = 0.18

TOOL_LABELS = ("Adult", "Chick")
POSTURES = ("Standing", "Lying down")
VISIBILITY = ("Clear", "Partly obscured (snow, fog, glare)", "Mostly obscured or dark")
SHORTCUT_LABEL = "Nothing here"

STRINGS_LATEST = {
    "T0.help": "Click once on the centre of the body of each penguin. Zoom in for the ones far away.",
    "T0.instruction": (
        "Mark every adult penguin and every chick. For each adult, tell us whether it is standing "
        'or lying down. If there are no penguins at all, tick "Nothing here".'
    ),
    "T0.tools.0.label": TOOL_LABELS[0],
    "T0.tools.1.label": TOOL_LABELS[1],
    "T0.tools.0.details.0.help": "",
    "T0.tools.0.details.0.question": "Is this penguin standing or lying down?",
    "T0.tools.0.details.0.answers.0.label": POSTURES[0],
    "T0.tools.0.details.0.answers.1.label": POSTURES[1],
    "T1.help": "Snow on the lens, fog, glare and night frames make penguins hard to see.",
    "T1.question": "How well can you see the colony in this image?",
    "T1.answers.0.label": VISIBILITY[0],
    "T1.answers.1.label": VISIBILITY[1],
    "T1.answers.2.label": VISIBILITY[2],
    "T2.answers.0.label": SHORTCUT_LABEL,
}

SITES = ("DAMOa", "GEORa", "NEKOa", "PETEa", "BAILa", "HALFc", "MAIVb", "SPIGa", "CUVEa", "ORNEa")

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
)
VIEWPORTS = (
    (1920, 969),
    (1710, 948),
    (1536, 730),
    (1440, 789),
    (1280, 642),
    (2560, 1289),
    (1024, 1262),
)
UTC_OFFSETS = ("0", "-3600", "18000", "25200", "-36000", "14400", "-19800")

NAME_PARTS = (
    "penguin", "gentoo", "adelie", "chinstrap", "krill", "ice", "snow", "polar", "arctic", "tern",
    "skua", "petrel", "seal", "berg", "floe", "aurora", "tundra", "glacier", "puffin", "citizen",
)  # fmt: skip


def _jsonb_order(value: Any) -> Any:
    """Order object keys as Postgres ``jsonb`` stores them: shorter keys first, then bytewise."""
    if isinstance(value, dict):
        return {
            k: _jsonb_order(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k))
        }
    if isinstance(value, list):
        return [_jsonb_order(v) for v in value]
    return value


def workflow_tasks(*, with_subtask: bool = True, with_shortcut: bool = True) -> dict[str, Any]:
    """The PFE ``tasks`` JSON of the simulated workflow (latest version by default).

    >>> sorted(workflow_tasks())
    ['T0', 'T1', 'T2']
    >>> workflow_tasks()["T0"]["tools"][0]["details"][0]["type"]
    'single'
    """
    adult_details = []
    if with_subtask:
        adult_details = [
            {
                "help": "T0.tools.0.details.0.help",
                "type": "single",
                "answers": [
                    {"label": "T0.tools.0.details.0.answers.0.label"},
                    {"label": "T0.tools.0.details.0.answers.1.label"},
                ],
                "question": "T0.tools.0.details.0.question",
                "required": False,
            }
        ]
    t0: dict[str, Any] = {
        "help": "T0.help",
        "next": "T1",
        "type": "drawing",
        "tools": [
            {
                "type": "point",
                "color": "#ff0000",
                "label": "T0.tools.0.label",
                "details": adult_details,
            },
            {"type": "point", "color": "#00ffff", "label": "T0.tools.1.label", "details": []},
        ],
        "instruction": "T0.instruction",
    }
    tasks: dict[str, Any] = {"T0": t0}
    if with_shortcut:
        t0["unlinkedTask"] = "T2"
    tasks["T1"] = {
        "help": "T1.help",
        "type": "single",
        "answers": [{"label": f"T1.answers.{i}.label"} for i in range(len(VISIBILITY))],
        "question": "T1.question",
        "required": True,
    }
    if with_shortcut:
        tasks["T2"] = {"type": "shortcut", "answers": [{"label": "T2.answers.0.label"}]}
    return _jsonb_order(tasks)


@dataclass(frozen=True, kw_only=True)
class SimulationParams:
    """What to simulate. Defaults give a project of 20,000 classifications, ~15 per subject.

    ``subjects`` defaults to ``classifications // 15`` (at least 1). The behavioural knobs are
    fractions or rates; they are the expected values, the realised ones are in the summary.
    """

    classifications: int = 20_000
    subjects: int | None = None
    seed: int = 0
    workflow_id: int = 21434
    #: share of subjects with no penguin at all
    empty_fraction: float = 0.2
    #: share of subjects made of two frames (a pair of time-lapse photos)
    two_frame_fraction: float = 0.3
    #: mean number of penguins on a non-empty frame (negative binomial, capped at max_penguins)
    mean_penguins: float = 11.5
    max_penguins: int = 80
    #: probability that a session is anonymous (anonymous sessions are shorter)
    anonymous_session_fraction: float = 0.6
    #: probability that a classification is a repeat of the session's previous subject
    repeat_rate: float = 0.02
    #: sessions classifying at the same time (sets the rate, hence the time span)
    concurrency: int = 8
    #: active subjects served to volunteers at a time
    pool_size: int = 300
    #: first created_at, seconds since the epoch (2024-02-01 00:00:00 UTC)
    start_time: int = 1_706_745_600

    def __post_init__(self) -> None:
        if self.classifications < 1:
            raise ValueError(f"classifications must be >= 1, got {self.classifications}")
        if self.subjects is not None and not 1 <= self.subjects <= self.classifications:
            raise ValueError(
                f"subjects must be between 1 and classifications ({self.classifications}), "
                f"got {self.subjects}"
            )
        for name in ("empty_fraction", "two_frame_fraction", "anonymous_session_fraction",
                     "repeat_rate"):  # fmt: skip
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.concurrency < 1 or self.pool_size < 1 or self.max_penguins < 1:
            raise ValueError("concurrency, pool_size and max_penguins must be >= 1")

    @property
    def n_subjects(self) -> int:
        if self.subjects is not None:
            return self.subjects
        return max(1, self.classifications // 15)

    @property
    def workflow_version(self) -> str:
        major, minor = WORKFLOW_VERSIONS[-1]
        return f"{major}.{minor}"


@dataclass(frozen=True)
class SimulationSummary:
    """Where the files went and what came out."""

    directory: Path
    workflows_csv: Path
    classifications_csv: Path
    ground_truth: Path
    extractor_config: Path
    reducer_configs: dict[str, Path]
    task_labels: Path
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------
# configs


def extractor_config(params: SimulationParams) -> dict[str, Any]:
    """The extractor config ``panoptes_aggregation config`` derives from the latest workflow."""
    return {
        "workflow_id": params.workflow_id,
        "workflow_version": params.workflow_version,
        "extractor_config": {
            "point_extractor_by_frame": [
                {"task": "T0", "tools": [0, 1], "details": {"T0_tool0": ["question_extractor"]}}
            ],
            "question_extractor": [{"task": "T1"}],
            "shortcut_extractor": [{"task": "T2"}],
        },
    }


def reducer_configs() -> dict[str, dict[str, Any]]:
    """Reducer config per extractor key; the point reducer is HDBSCAN as the benchmark wants."""
    return {
        "point_extractor_by_frame": {
            "reducer_config": {
                "point_reducer_hdbscan": {
                    "details": {"T0_tool0": ["question_reducer"]},
                    "min_cluster_size": 4,
                    "min_samples": 3,
                }
            }
        },
        "question_extractor": {"reducer_config": {"question_reducer": {}}},
        "shortcut_extractor": {"reducer_config": {"shortcut_reducer": {}}},
    }


def task_labels() -> dict[str, str]:
    """Task label look-up table as ``config`` writes it (no ``help`` strings)."""
    return {k: v for k, v in STRINGS_LATEST.items() if "help" not in k}


def _dump_yaml(obj: Any, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        yaml.dump(obj, stream=stream, default_flow_style=False, indent=4)


def write_configs(directory: Path, params: SimulationParams) -> tuple[Path, dict[str, Path], Path]:
    stem = f"workflow_{params.workflow_id}_V{params.workflow_version}"
    ext_path = directory / f"Extractor_config_{stem}.yaml"
    _dump_yaml(extractor_config(params), ext_path)
    red_paths = {}
    for key, cfg in reducer_configs().items():
        red_paths[key] = directory / f"Reducer_config_{stem}_{key}.yaml"
        _dump_yaml(cfg, red_paths[key])
    labels_path = directory / f"Task_labels_{stem}.yaml"
    _dump_yaml(task_labels(), labels_path)
    return ext_path, red_paths, labels_path


# --------------------------------------------------------------------------------------------
# CSV helpers (bytes; JSON cells always contain quotes, so they are always quoted)


def _cell(b: bytes) -> bytes:
    return b'"' + b.replace(b'"', b'""') + b'"'


def _plain(s: str) -> bytes:
    b = s.encode()
    if any(c in b for c in (b",", b'"', b"\n", b"\r")):
        return _cell(b)
    return b


def write_workflows(path: Path, params: SimulationParams, n_classifications: int) -> None:
    retirement = orjson.dumps(
        _jsonb_order({"criteria": "classification_count", "options": {"count": 15}})
    )
    with open(path, "wb") as f:
        f.write(",".join(WORKFLOW_COLUMNS).encode() + b"\n")
        for i, (major, minor) in enumerate(WORKFLOW_VERSIONS):
            latest = i == len(WORKFLOW_VERSIONS) - 1
            tasks = workflow_tasks(with_subtask=i >= 1, with_shortcut=True)
            strings = dict(STRINGS_LATEST)
            if i == 0:
                strings = {k: v for k, v in strings.items() if ".details." not in k}
                strings["T0.instruction"] = "Mark every adult penguin and every chick."
            row = [
                str(params.workflow_id).encode(),
                _plain(WORKFLOW_NAME),
                str(major).encode(),
                b"true" if latest else b"false",
                str(n_classifications if latest else 0).encode(),
                b"false",
                b"false",
                b"false",
                b"en",
                b"T0",
                b"",
                str(params.n_subjects if latest else 0).encode(),
                _cell(orjson.dumps(tasks)),
                _cell(retirement),
                b"{}",
                _cell(orjson.dumps(_jsonb_order(strings))),
                str(minor).encode(),
            ]
            f.write(b",".join(row) + b"\n")


# --------------------------------------------------------------------------------------------
# the world: subjects with penguins


def _scale(y: float) -> float:
    """Apparent size of a penguin at height y: 1 at the bottom edge, ~0.3 at the horizon."""
    return 0.3 + 0.7 * max(0.0, (y / IMAGE_HEIGHT - SKY) / (1.0 - SKY))


def _neg_binomial(r: random.Random, mean: float, k: float = 3.0) -> int:
    # gamma-Poisson mixture; Poisson by inversion (means here are small)
    lam = r.gammavariate(k, mean / k)
    if lam > 60:
        return max(0, round(r.gauss(lam, math.sqrt(lam))))
    threshold, n, p = math.exp(-lam), 0, r.random()
    while p > threshold:
        p *= r.random()
        n += 1
    return n


def _poisson(r: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    threshold, n, p = math.exp(-lam), 0, r.random()
    while p > threshold:
        p *= r.random()
        n += 1
    return n


# a penguin: (x, y, tool, posture, scale, detectability, jitter, confusability); posture is
# 0/1 (standing/lying) for adults, -1 for chicks. The last three are what the apparent size makes
# of a volunteer's chance to see it, of the spread of the marks, of taking it for the other kind.
Penguin = tuple


def _penguin(x: float, y: float, tool: int, posture: int) -> Penguin:
    s = _scale(y)
    far = 1.0 - s  # 0 near the camera, 0.7 at the horizon
    detectability = (1.0 - 0.45 * far) * (0.85 if tool == 1 else 1.0)
    jitter = 4.0 + 16.0 * far
    confusability = 1.0 + far
    return (x, y, tool, posture, s, detectability, jitter, confusability)


def _make_frame(r: random.Random, n: int) -> list[Penguin]:
    penguins: list[Penguin] = []
    if n == 0:
        return penguins
    chick_share = r.choice((0.0, 0.0, 0.15, 0.3, 0.45))
    centres = [
        (r.uniform(0.1, 0.9) * IMAGE_WIDTH, r.uniform(SKY + 0.08, 0.95) * IMAGE_HEIGHT)
        for _ in range(r.randint(1, 3))
    ]
    tries = 0
    while len(penguins) < n and tries < n * 30:
        tries += 1
        cx, cy = centres[r.randrange(len(centres))]
        s = _scale(cy)
        x = r.gauss(cx, 260 * s)
        y = r.gauss(cy, 120 * s)
        if not (8 <= x <= IMAGE_WIDTH - 8 and SKY * IMAGE_HEIGHT <= y <= IMAGE_HEIGHT - 8):
            continue
        s = _scale(y)
        min_d2 = (70 * s) ** 2
        if any((p[0] - x) ** 2 + (p[1] - y) ** 2 < min_d2 for p in penguins):
            continue
        if r.random() < chick_share:
            penguins.append(_penguin(x, y, 1, -1))
        else:
            penguins.append(_penguin(x, y, 0, 0 if r.random() < 0.7 else 1))
    return penguins


def _next_frame(r: random.Random, frame: list[Penguin]) -> list[Penguin]:
    """The same colony a minute later: a little movement, a few leave, few arrive."""
    out = []
    for x, y, tool, posture, s, *_ in frame:
        if r.random() < 0.08:
            continue
        x = min(IMAGE_WIDTH - 8.0, max(8.0, x + r.gauss(0, 6 * s)))
        y = min(IMAGE_HEIGHT - 8.0, max(SKY * IMAGE_HEIGHT, y + r.gauss(0, 4 * s)))
        if posture >= 0 and r.random() < 0.1:
            posture = 1 - posture
        out.append(_penguin(x, y, tool, posture))
    if frame and r.random() < 0.4:
        x0, y0 = frame[r.randrange(len(frame))][:2]
        x = min(IMAGE_WIDTH - 8.0, max(8.0, x0 + r.uniform(-150, 150)))
        y = min(IMAGE_HEIGHT - 8.0, max(SKY * IMAGE_HEIGHT, y0 + r.uniform(-60, 60)))
        s = _scale(y)
        if all((p[0] - x) ** 2 + (p[1] - y) ** 2 >= (70 * s) ** 2 for p in out):
            out.append(_penguin(x, y, 0, 0))
    return out


@dataclass(slots=True, eq=False)
class _Subject:
    subject_id: int
    site: str
    filename: str
    frames: list[list[Penguin]]
    visibility: int
    remaining: int
    total: int
    seen_by: set[int]
    created_at: str
    sd_head: bytes  # subject_data JSON up to the "retired" value
    sd_tail: bytes  # subject_data JSON after it
    dims: list[dict[str, int]] | None = None


# --------------------------------------------------------------------------------------------
# the volunteers


@dataclass(slots=True, eq=False)
class _User:
    key: int  # index into the user tables; anonymous identities get their own keys
    user_id: bytes  # b"" when anonymous
    name: bytes
    ip: bytes
    detect: float  # chance of marking a clearly visible penguin
    noise: float  # multiplier of the positional jitter
    false_rate: float  # expected false marks per frame
    confuse: float  # chance of using the wrong tool
    subtask_acc: float
    question_acc: float
    shortcut_use: float  # chance of ticking "Nothing here" on an empty image
    second_frame: float  # chance of also marking frame 1 of a two-frame subject
    viewport: tuple[int, int]
    agent: str
    utc_offset: str


def _make_user(r: random.Random, key: int, *, anonymous: bool, user_id: int = 0) -> _User:
    skill = r.betavariate(3.0, 3.0) if anonymous else r.betavariate(5.0, 2.0)
    ip = f"{r.getrandbits(80):020x}"
    if anonymous:
        name = f"not-logged-in-{ip}"
        uid = b""
    else:
        a, b = r.choice(NAME_PARTS), r.choice(NAME_PARTS)
        style = r.randrange(3)
        # the user id in the name keeps names unique, as Panoptes logins are
        if style == 0:
            name = f"{a}{b}{user_id}"
        elif style == 1:
            name = f"{a.capitalize()}_{b.capitalize()}_{user_id}"
        else:
            name = f"{a}-{user_id:x}"
        uid = str(user_id).encode()
    return _User(
        key=key,
        user_id=uid,
        name=name.encode(),
        ip=ip.encode(),
        detect=0.55 + 0.42 * skill,
        noise=1.7 - 0.9 * skill,
        false_rate=0.5 * (1.0 - skill) ** 2 + 0.02,
        confuse=0.12 * (1.0 - skill) + 0.01,
        subtask_acc=0.6 + 0.38 * skill,
        question_acc=0.55 + 0.42 * skill,
        shortcut_use=0.6 + 0.38 * skill,
        second_frame=0.5 + 0.45 * skill,
        viewport=r.choice(VIEWPORTS),
        agent=r.choice(USER_AGENTS),
        utc_offset=r.choice(UTC_OFFSETS),
    )


@dataclass(slots=True, eq=False)
class _Session:
    user: _User
    remaining: int
    session_hash: str
    last_subject: _Subject | None = None
    meta_parts: tuple | None = None


class _Normals:
    """Normal deviates drawn from numpy in blocks (``random.gauss`` is pure Python and slow)."""

    __slots__ = ("_buf", "_gen", "_i")

    def __init__(self, seed: int) -> None:
        import numpy as np  # here, not at the top: `tally --help` should not pay for numpy

        self._gen = np.random.default_rng(seed)
        self._buf: list[float] = []
        self._i = 0

    def take(self, k: int) -> list[float]:
        """k standard normal deviates."""
        i = self._i
        if i + k > len(self._buf):
            self._buf = self._gen.standard_normal(max(1 << 16, k)).tolist()
            i = 0
        self._i = i + k
        return self._buf[i : i + k]

    def __call__(self, mu: float, sigma: float) -> float:
        i = self._i
        if i >= len(self._buf):
            self._buf = self._gen.standard_normal(1 << 16).tolist()
            i = 0
        self._i = i + 1
        return mu + sigma * self._buf[i]


# --------------------------------------------------------------------------------------------
# time formatting (cached per second)


_DAYS: dict[int, str] = {}


def _day(day: int) -> str:
    s = _DAYS.get(day)
    if s is None:
        s = _DAYS[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
    return s


def _fmt_created(t: int) -> bytes:
    """``2024-02-23 16:17:26 UTC`` for t seconds since the epoch."""
    day, sec = divmod(t, 86_400)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{_day(day)} {h:02d}:{m:02d}:{s:02d} UTC".encode()


def _fmt_iso(t_ms: int) -> str:
    """``2024-02-23T16:17:26.123Z`` for t_ms milliseconds since the epoch."""
    t, ms = divmod(t_ms, 1000)
    day, sec = divmod(t, 86_400)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{_day(day)}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


# --------------------------------------------------------------------------------------------
# the generator


class _Simulator:
    def __init__(self, params: SimulationParams) -> None:
        self.p = params
        self.r = random.Random(params.seed)
        self.gauss = _Normals(self.r.getrandbits(64))
        self.stats = {
            "classifications": 0,
            "subjects": params.n_subjects,
            "empty_subjects": 0,
            "two_frame_subjects": 0,
            "true_penguins": 0,
            "anonymous_classifications": 0,
            "repeat_classifications": 0,
            "shortcut_classifications": 0,
            "marks": 0,
            "false_marks": 0,
            "registered_users": 0,
            "anonymous_users": 0,
            "first_created_at": "",
            "last_created_at": "",
        }
        n_reg = max(10, params.classifications // 30)
        self.n_registered = n_reg
        # Zipf-like activity over registered users
        weights = [1.0 / (k + 1) ** 1.05 for k in range(n_reg)]
        total = 0.0
        self.cum_weights = []
        for w in weights:
            total += w
            self.cum_weights.append(total)
        self.registered: list[_User | None] = [None] * n_reg
        ids = self.r.sample(range(100_000, 2_900_000), n_reg)
        self.registered_ids = ids
        self.anon_pool: list[_User] = []  # returning anonymous visitors (same IP)
        self.next_key = n_reg
        self.subject_next_id = 87_654_000 + self.r.randrange(1000)
        self.subjects_made = 0
        self.classification_id = 545_000_000 + self.r.randrange(1_000_000)
        self.pool: list[_Subject] = []
        self.quotas = self._quotas()
        self.created_cache: tuple[int, bytes] = (-1, b"")
        t0 = self.p.workflow_version.encode()
        self.row_const = (
            b","
            + str(params.workflow_id).encode()
            + b","
            + _plain(WORKFLOW_NAME)
            + b","
            + t0
            + b","
        )
        self.t0_label = STRINGS_LATEST["T0.instruction"]
        self.t1_label = STRINGS_LATEST["T1.question"]

    # -- subjects -----------------------------------------------------------------------------

    def _quotas(self) -> list[int]:
        """Classifications per subject: at least 1, summing to the total, Poisson-like spread."""
        n, m = self.p.classifications, self.p.n_subjects
        r = random.Random(self.r.getrandbits(64))
        quotas = [1] * m
        extra = n - m
        base, rem = divmod(extra, m)
        for i in range(m):
            quotas[i] += base
        for i in r.sample(range(m), rem):
            quotas[i] += 1
        # move classifications between random pairs to spread the counts (keeps the sum)
        if base >= 2:
            for _ in range(m * 2):
                i, j = r.randrange(m), r.randrange(m)
                k = r.randint(0, max(1, base // 4))
                if quotas[i] - k >= 1:
                    quotas[i] -= k
                    quotas[j] += k
        return quotas

    def _new_subject(self, gt_out) -> _Subject:
        r = self.r
        sid = self.subject_next_id
        self.subject_next_id += 1 if r.random() < 0.97 else r.randint(2, 40)
        quota = self.quotas[self.subjects_made]
        self.subjects_made += 1
        site = r.choice(SITES)
        season = 2014 + r.randrange(6)
        filename = f"{site}{season}a_{r.randrange(1, 9999):06d}.JPG"
        empty = r.random() < self.p.empty_fraction
        n = 0 if empty else max(1, min(self.p.max_penguins, _neg_binomial(r, self.p.mean_penguins)))
        frames = [_make_frame(r, n)]
        if r.random() < self.p.two_frame_fraction:
            frames.append([] if empty else _next_frame(r, frames[0]))
            self.stats["two_frame_subjects"] += 1
        if not any(frames):
            empty = True
        vis_p = r.random()
        if empty:
            visibility = 0 if vis_p < 0.45 else (1 if vis_p < 0.75 else 2)
            self.stats["empty_subjects"] += 1
        else:
            visibility = 0 if vis_p < 0.7 else (1 if vis_p < 0.92 else 2)
        self.stats["true_penguins"] += sum(len(f) for f in frames)
        created = _fmt_iso(self.p.start_time * 1000 - r.randrange(86_400_000, 20 * 86_400_000))
        meta = {
            "#site": site,
            "Filename": filename,
            "#season": f"{season}a",
            "frames": len(frames),
        }
        head = _cell(b'{"' + str(sid).encode() + b'":{"retired":')[:-1]
        tail = _cell(b"," + orjson.dumps(_jsonb_order(meta))[1:] + b"}")[1:]
        subj = _Subject(
            subject_id=sid,
            site=site,
            filename=filename,
            frames=frames,
            visibility=visibility,
            remaining=quota,
            total=quota,
            seen_by=set(),
            created_at=created,
            sd_head=head,
            sd_tail=tail,
        )
        truth = {
            "subject_id": sid,
            "frames": [
                [
                    {
                        "x": round(x, 3),
                        "y": round(y, 3),
                        "tool": tool,
                        "kind": TOOL_LABELS[tool],
                        "posture": POSTURES[posture] if posture >= 0 else None,
                        "scale": round(s, 4),
                    }
                    for x, y, tool, posture, s, *_ in frame
                ]
                for frame in frames
            ],
            "empty": empty,
            "T1": VISIBILITY[visibility],
            "T2": SHORTCUT_LABEL if empty else None,
            "classifications": quota,
            "site": site,
            "filename": filename,
        }
        gt_out.write(orjson.dumps(truth) + b"\n")
        return subj

    # -- users and sessions -------------------------------------------------------------------

    def _registered_user(self, idx: int) -> _User:
        u = self.registered[idx]
        if u is None:
            u = _make_user(self.r, idx, anonymous=False, user_id=self.registered_ids[idx])
            self.registered[idx] = u
            self.stats["registered_users"] += 1
        return u

    def _new_session(self) -> _Session:
        r = self.r
        if r.random() < self.p.anonymous_session_fraction:
            if self.anon_pool and r.random() < 0.25:
                user = self.anon_pool[r.randrange(len(self.anon_pool))]
            else:
                user = _make_user(r, self.next_key, anonymous=True)
                self.next_key += 1
                self.stats["anonymous_users"] += 1
                if len(self.anon_pool) < 500:
                    self.anon_pool.append(user)
                else:
                    self.anon_pool[r.randrange(500)] = user
            length = 1 + int(r.expovariate(1 / 4.0))
        else:
            idx = bisect.bisect_left(self.cum_weights, r.random() * self.cum_weights[-1])
            user = self._registered_user(min(idx, self.n_registered - 1))
            length = 1 + int(r.expovariate(1 / (8.0 + 30.0 * (1.0 - idx / self.n_registered) ** 8)))
        return _Session(user=user, remaining=length, session_hash=f"{r.getrandbits(256):064x}")

    def _pick_subject(
        self, session: _Session, gt_out, *, last_resort: bool
    ) -> tuple[_Subject, bool] | None:
        """A subject for this session and whether its user has classified it before.

        Like Panoptes: a random active subject the volunteer has not seen; if the sampled ones
        were all seen, a fresh subject is activated while the pool may grow (up to twice its
        size, which keeps memory flat). Otherwise None (this volunteer is served nothing new and
        leaves), or with ``last_resort`` a subject they have seen.
        A small share of classifications deliberately repeat the session's previous subject.
        """
        r = self.r
        last = session.last_subject
        if last is not None and last.remaining > 0 and r.random() < self.p.repeat_rate:
            return last, True
        pool = self.pool
        key = session.user.key
        for _ in range(6):
            s = pool[r.randrange(len(pool))]
            if key not in s.seen_by:
                return s, False
        if self.subjects_made < self.p.n_subjects and len(pool) < 2 * self.p.pool_size:
            s = self._new_subject(gt_out)
            pool.append(s)
            return s, False
        if self.subjects_made >= self.p.n_subjects:  # the last few subjects: look harder
            for s in pool:
                if key not in s.seen_by:
                    return s, False
        if not last_resort:
            return None
        s = pool[r.randrange(len(pool))]
        return s, True

    # -- marks --------------------------------------------------------------------------------

    def _marks(self, user: _User, subj: _Subject) -> list[dict[str, Any]]:
        r = self.r
        rand = r.random
        marks: list[dict[str, Any]] = []
        n_false = 0
        detect, noise, confuse, subtask_acc = (
            user.detect,
            user.noise,
            user.confuse,
            user.subtask_acc,
        )
        for f_idx, frame in enumerate(subj.frames):
            if f_idx > 0 and rand() >= user.second_frame:
                break
            z = self.gauss.take(2 * len(frame))
            k = 0
            for x, y, tool, posture, _s, det_base, sig_base, conf_base in frame:
                if rand() >= detect * det_base:
                    continue
                sigma = noise * sig_base
                mx = x + sigma * z[k]
                my = y + sigma * z[k + 1]
                k += 2
                if mx < 0.0:
                    mx = 0.0
                elif mx > IMAGE_WIDTH:
                    mx = float(IMAGE_WIDTH)
                if my < 0.0:
                    my = 0.0
                elif my > IMAGE_HEIGHT:
                    my = float(IMAGE_HEIGHT)
                if rand() < confuse * conf_base:
                    tool = 1 - tool
                if tool == 0:
                    if posture < 0:
                        ans = 0 if rand() < 0.5 else 1
                    elif rand() < subtask_acc:
                        ans = posture
                    else:
                        ans = 1 - posture
                    if rand() < 0.02:
                        ans = None  # subtask left unanswered
                    mark = {"x": mx, "y": my, "tool": 0, "frame": f_idx,
                            "details": [{"value": ans}], "tool_label": "Adult"}  # fmt: skip
                else:
                    mark = {"x": mx, "y": my, "tool": 1, "frame": f_idx, "details": [],
                            "tool_label": "Chick"}  # fmt: skip
                marks.append(mark)
                if rand() < 0.015:  # double click
                    dup = dict(mark)
                    dup["x"] = mx + 1.5 * (rand() - 0.5)
                    dup["y"] = my + 1.5 * (rand() - 0.5)
                    dup["details"] = [dict(d) for d in mark["details"]]
                    marks.append(dup)
            for _ in range(_poisson(r, user.false_rate)):
                t = 0 if rand() < 0.7 else 1
                fy = r.uniform(SKY * IMAGE_HEIGHT, IMAGE_HEIGHT)
                details = [{"value": 0 if rand() < 0.5 else 1}] if t == 0 else []
                pos = r.randint(0, len(marks))
                marks.insert(pos, {"x": r.uniform(0, IMAGE_WIDTH), "y": fy, "tool": t,
                                   "frame": f_idx, "details": details,
                                   "tool_label": TOOL_LABELS[t]})  # fmt: skip
                n_false += 1
        self.stats["false_marks"] += n_false
        return marks

    def _annotations(self, user: _User, subj: _Subject) -> tuple[bytes, bool]:
        r = self.r
        empty = not any(subj.frames)
        shortcut = False
        if empty:
            if r.random() < user.shortcut_use:
                marks: list[dict[str, Any]] = []
                shortcut = True
            else:
                marks = self._marks(user, subj)
        else:
            marks = self._marks(user, subj)
            if not marks and r.random() < 0.5:
                shortcut = True
            elif r.random() < 0.004 * (1.0 - user.detect):
                marks, shortcut = [], True  # careless "Nothing here"
        if r.random() < user.question_acc:
            answer: str | None = VISIBILITY[subj.visibility]
        else:
            answer = VISIBILITY[(subj.visibility + r.randint(1, 2)) % 3]
        if r.random() < 0.01:
            answer = None
        annos: list[dict[str, Any]] = [{"task": "T0", "task_label": self.t0_label, "value": marks}]
        if shortcut:
            annos.append({"task": "T2", "task_label": None, "value": [SHORTCUT_LABEL]})
        annos.append({"task": "T1", "task_label": self.t1_label, "value": answer})
        self.stats["marks"] += len(marks)
        return orjson.dumps(annos), shortcut

    def _metadata(self, session: _Session, subj: _Subject, started_ms: int, finished_ms: int,
                  already_seen: bool) -> bytes:  # fmt: skip
        """The metadata cell, already CSV-quoted: constant parts are cached per session."""
        n_frames = len(subj.frames)
        parts = session.meta_parts
        if parts is None or parts[0] != n_frames:
            parts = session.meta_parts = (n_frames, *self._meta_parts(session, n_frames))
        started = _fmt_iso(started_ms).encode()
        return b"".join((
            parts[1], started, parts[2], _fmt_iso(finished_ms).encode(), parts[3], started,
            b'"",""already_seen"":true,' if already_seen else b'"",""already_seen"":false,',
            parts[4],
        ))  # fmt: skip

    def _meta_parts(self, session: _Session, n_frames: int) -> tuple[bytes, bytes, bytes, bytes]:
        user = session.user
        vw, vh = user.viewport
        cw = int(vw * 0.55)
        ch = int(cw * IMAGE_HEIGHT / IMAGE_WIDTH)
        dims = {"clientWidth": cw, "clientHeight": ch, "naturalWidth": IMAGE_WIDTH,
                "naturalHeight": IMAGE_HEIGHT}  # fmt: skip
        marker = "\x00"
        meta = {
            "source": "api",
            "session": session.session_hash,
            "viewport": {"width": vw, "height": vh},
            "started_at": marker,
            "user_agent": user.agent,
            "utc_offset": user.utc_offset,
            "finished_at": marker,
            "live_project": True,
            "interventions": {"opt_in": False, "messageShown": False},
            "user_language": "en",
            "subject_dimensions": [dims] * n_frames,
            "subject_selection_state": {
                "retired": False,
                "selected_at": marker,
                "already_seen": marker,
                "selection_state": "normal",
                "finished_workflow": False,
                "user_has_finished_workflow": False,
            },
            "workflow_translation_id": "61204",
        }
        text = _cell(orjson.dumps(meta))
        # split at the markers: started_at, finished_at, selected_at (+ already_seen)
        mark = b"\\u0000"
        a, b, c, rest = text.split(mark, 3)
        _, d = rest.split(b'""already_seen"":""' + mark + b'"",', 1)
        return a, b, c, d

    def _subject_data(self, subj: _Subject, retired_ms: int | None) -> bytes:
        """The subject_data cell, already CSV-quoted."""
        if retired_ms is None:
            return subj.sd_head + b"null" + subj.sd_tail
        stamp = _fmt_iso(retired_ms)
        retired = {
            "id": 130_000_000 + subj.subject_id % 10_000_000,
            "workflow_id": self.p.workflow_id,
            "classifications_count": subj.total,
            "created_at": subj.created_at,
            "updated_at": stamp,
            "retired_at": stamp,
            "subject_id": subj.subject_id,
            "retirement_reason": "classification_count",
        }
        return subj.sd_head + orjson.dumps(retired).replace(b'"', b'""') + subj.sd_tail

    # -- main loop ----------------------------------------------------------------------------

    def run(self, cls_out, gt_out, progress: Callable[[int], None] | None = None) -> None:
        r = self.r
        p = self.p
        total = p.classifications
        for _ in range(min(p.pool_size, p.n_subjects)):
            self.pool.append(self._new_subject(gt_out))
        # event heap: (time in ms, sequence, session)
        heap: list[tuple[int, int, _Session]] = []
        seq = 0
        now_ms = p.start_time * 1000
        for _ in range(p.concurrency):
            seq += 1
            heapq.heappush(heap, (now_ms + r.randrange(120_000), seq, self._new_session()))
        header = ",".join(CLASSIFICATION_COLUMNS).encode() + b"\n"
        cls_out.write(header)
        buf: list[bytes] = []
        done = 0
        while done < total:
            t_ms, _, session = heapq.heappop(heap)
            picked = self._pick_subject(session, gt_out, last_resort=False)
            tries = 0
            while picked is None:  # this volunteer has seen every active subject: someone else
                tries += 1
                session = self._new_session()
                picked = self._pick_subject(session, gt_out, last_resort=tries >= 50)
            subj, repeat = picked
            user = session.user
            # the classification took a while; created_at is when it was submitted
            duration = 4_000 + int(r.expovariate(1 / 30_000.0)) + 1_500 * len(subj.frames[0])
            finished_ms = t_ms
            started_ms = finished_ms - duration
            subj.remaining -= 1
            retired = subj.remaining == 0
            subj.seen_by.add(user.key)
            annotations, shortcut = self._annotations(user, subj)
            meta = self._metadata(session, subj, started_ms, finished_ms, repeat)
            sdata = self._subject_data(subj, finished_ms + 150 if retired else None)
            t_s = finished_ms // 1000
            if self.created_cache[0] != t_s:
                self.created_cache = (t_s, _fmt_created(t_s))
            created = self.created_cache[1]
            self.classification_id += 1 + int(r.expovariate(1 / 40.0))
            buf.append(
                b"%d,%b,%b,%b%b%b,,,%b,%b,%b,%d\n"
                % (
                    self.classification_id,
                    user.name,
                    user.user_id,
                    user.ip,
                    self.row_const,
                    created,
                    meta,
                    _cell(annotations),
                    sdata,
                    subj.subject_id,
                )
            )
            done += 1
            if not user.user_id:
                self.stats["anonymous_classifications"] += 1
            if repeat:
                self.stats["repeat_classifications"] += 1
            if shortcut:
                self.stats["shortcut_classifications"] += 1
            if done == 1:
                self.stats["first_created_at"] = created.decode()
            if len(buf) >= 2000:
                cls_out.write(b"".join(buf))
                buf.clear()
                if progress is not None:
                    progress(done)
            session.last_subject = subj
            if retired:
                pool = self.pool
                i = pool.index(subj)
                pool[i] = pool[-1]
                pool.pop()
                if len(pool) < p.pool_size and self.subjects_made < p.n_subjects:
                    pool.append(self._new_subject(gt_out))
                if not pool and done < total:  # pragma: no cover - quotas sum to the total
                    raise AssertionError("subject pool exhausted before the last classification")
                subj.seen_by = set()
            session.remaining -= 1
            seq += 1
            if session.remaining > 0:
                gap = 5_000 + int(r.expovariate(1 / 25_000.0))
                heapq.heappush(heap, (t_ms + gap, seq, session))
            else:
                gap = 2_000 + int(r.expovariate(1 / 90_000.0))
                heapq.heappush(heap, (t_ms + gap, seq, self._new_session()))
        cls_out.write(b"".join(buf))
        if progress is not None:
            progress(done)
        self.stats["classifications"] = done
        self.stats["last_created_at"] = self.created_cache[1].decode()


def simulate(
    directory: str | os.PathLike[str],
    params: SimulationParams | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> SimulationSummary:
    """Write the simulated project into ``directory`` (created if missing); see the module doc.

    ``progress`` is called now and then with the number of classifications written so far.
    """
    params = params or SimulationParams()
    t_start = time.perf_counter()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cls_path = out / f"{PROJECT_SLUG}-classifications.csv"
    wf_path = out / f"{PROJECT_SLUG}-workflows.csv"
    gt_path = out / f"{PROJECT_SLUG}-ground-truth.jsonl"
    sim = _Simulator(params)
    with (
        open(cls_path, "wb", buffering=1 << 20) as cls_out,
        open(gt_path, "wb", buffering=1 << 20) as gt_out,
    ):
        sim.run(cls_out, gt_out, progress)
    write_workflows(wf_path, params, sim.stats["classifications"])
    ext_path, red_paths, labels_path = write_configs(out, params)
    counts = dict(sim.stats)
    n = counts["classifications"]
    counts["anonymous_fraction"] = round(counts["anonymous_classifications"] / n, 4)
    counts["repeat_fraction"] = round(counts["repeat_classifications"] / n, 4)
    counts["classifications_bytes"] = cls_path.stat().st_size
    seconds = time.perf_counter() - t_start
    summary = SimulationSummary(
        directory=out,
        workflows_csv=wf_path,
        classifications_csv=cls_path,
        ground_truth=gt_path,
        extractor_config=ext_path,
        reducer_configs=red_paths,
        task_labels=labels_path,
        counts=counts,
        seconds=seconds,
    )
    record = {
        "generator": "tally simulate",
        "params": dataclasses.asdict(params) | {"subjects": params.n_subjects},
        "workflow_id": params.workflow_id,
        "workflow_version": params.workflow_version,
        "files": {
            "workflows": wf_path.name,
            "classifications": cls_path.name,
            "ground_truth": gt_path.name,
            "extractor_config": ext_path.name,
            "reducer_configs": {k: v.name for k, v in red_paths.items()},
            "task_labels": labels_path.name,
        },
        "counts": counts,
    }
    (out / "simulation.json").write_bytes(
        orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    return summary
