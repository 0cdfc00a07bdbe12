"""Find recordings under a corpus folder, their annotations, subject ids and splits.

Layouts understood (paths relative to the corpus folder):

| corpus | example | subject | split |
|---|---|---|---|
| TUSZ | ``edf/train/aaaaaajy/s001_2002/02_tcp_le/aaaaaajy_s001_t000.edf`` | aaaaaajy | train |
| TUSZ v1 | ``edf/dev/01_tcp_ar/000/00000258/s002_2003/00000258_s002_t000.edf`` | 00000258 | dev |
| TUAB v3 | ``edf/train/normal/01_tcp_ar/aaaaaaav_s004_t000.edf`` | aaaaaaav | train |
| TUAB v2 | ``edf/eval/abnormal/01_tcp_ar/007/00000768/s003_2012_04_06/*.edf`` | 00000768 | eval |
| CHB-MIT | ``chb01/chb01_03.edf`` | ``chb01`` | — |
| Siena | ``PN00/PN00-1.edf`` | ``PN00`` | — |
| eegmat | ``Subject00_1.edf`` | ``Subject00`` | — |
| eegmmidb | ``S001/S001R03.edf`` | ``S001`` | — |
| BIDS | ``sub-01/ses-01/eeg/sub-01_ses-01_..._eeg.edf`` | ``sub-01`` | — |
| other | ``anything/rec.edf`` | ``anything`` (parent folder) | — |

TUAB (the TUH Abnormal EEG corpus) labels whole recordings by folder: :func:`find_tuab` lists
``edf/{train,eval}/{normal,abnormal}/.../*.edf`` at any depth (v2 nests patient and session
folders below the montage folder, v3 does not), with the class from the path (normal = 0,
abnormal = 1) and TUAB's own train / eval split.

Annotations of one EDF are the union of: its EDF+ annotations (read with the signals), a
``<stem>.csv_bi`` beside it (TUSZ), a ``<stem>_events.tsv`` (BIDS; ``..._eeg.edf`` pairs with
``..._events.tsv``), and the folder-level CHB-MIT ``*-summary.txt`` and Siena
``Seizures-list-*.txt`` in the EDF's folder (parsed again for each recording: they are small,
and each recording then gets the same events and warnings whichever worker reads it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from eegssm.io.types import Event

log = logging.getLogger(__name__)
#: File suffixes read as recordings (case-insensitive).
RECORDING_SUFFIXES = (".edf", ".bdf")
#: TUSZ split folder names.
TUSZ_SPLITS = ("train", "dev", "eval")
#: TUAB split folders and class folders (class index = position: normal 0, abnormal 1).
TUAB_SPLITS = ("train", "eval")
TUAB_CLASSES = ("normal", "abnormal")

_TUSZ_FILE = re.compile(r"^([a-z0-9]{8})_s\d{3}_t\d{3}$", re.IGNORECASE)
_TUSZ_MONTAGE = re.compile(r"^\d{2}_tcp_\w+$|^\d{2}_tcp$", re.IGNORECASE)
_SUBJECT_PATTERNS = (
    re.compile(r"^(chb\d{2})", re.IGNORECASE),  # CHB-MIT chb01_03, chb17a_04
    re.compile(r"^(Subject\d+)_", re.IGNORECASE),  # eegmat Subject00_1
    re.compile(r"^(S\d{3})R\d{2}$", re.IGNORECASE),  # eegmmidb S001R03
    re.compile(r"^(PN\d{2})-", re.IGNORECASE),  # Siena PN00-1
    re.compile(r"^(sub-[A-Za-z0-9]+)_"),  # BIDS sub-01_ses-..._eeg
)


@dataclass(frozen=True)
class Identity:
    """Who a recording belongs to.

    Attributes:
        subject: patient / subject id (never None: falls back to the parent folder name).
        split: ``"train"``, ``"dev"`` or ``"eval"`` when the path holds a TUSZ split, else None.
        session: TUSZ session folder (``s001_2002``) when present, else None.
    """

    subject: str
    split: str | None = None
    session: str | None = None


def find_recordings(data_dir: str | Path, exclude: Path | None = None) -> list[Path]:
    """All ``.edf`` / ``.bdf`` files under ``data_dir`` (recursive), sorted by relative path.

    Hidden folders and files (``.name``) and ``exclude`` (e.g. a cache folder inside the corpus)
    are skipped. Symbolic links are followed, each real folder once (a symlink loop ends there);
    a folder or file that cannot be read is logged and skipped (see :func:`walk_files`).
    """
    root = Path(data_dir)
    found = [
        path
        for path in walk_files(root, exclude=exclude)
        if path.suffix.lower() in RECORDING_SUFFIXES
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def walk_files(root: str | Path, exclude: Path | None = None) -> list[Path]:
    """Regular files under ``root`` (recursive, hidden names skipped), in walk order.

    Symbolic links to folders are followed, but each real folder is entered once, so a link
    loop (``a/up -> ..``) or two links to one folder cannot repeat or hang the walk. Folders
    that cannot be listed and entries that cannot be examined (no permission, a dangling or
    looping link, an I/O error) are logged as warnings and skipped; the walk goes on.

    Args:
        root: the folder to search.
        exclude: a folder to leave out (compared by identity, so any path to it works).
    """
    root = Path(root)
    skip = _identity(exclude) if exclude is not None else None
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []

    def on_error(err: OSError) -> None:
        log.warning("%s: cannot read folder (%s); skipped", err.filename, err.strerror)

    for folder, dirs, files in os.walk(root, onerror=on_error, followlinks=True):
        here = _identity(Path(folder))
        if here is None or here in seen or here == skip:
            if here is not None and here in seen and here != skip:
                log.warning("%s: folder already searched (symbolic link loop?); skipped", folder)
            dirs[:] = []
            continue
        seen.add(here)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            try:
                if stat.S_ISREG(path.stat().st_mode):
                    found.append(path)
            except OSError as err:
                log.warning("%s: cannot read (%s); skipped", path, err.strerror or err)
    return found


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of a folder (links followed), or None when it cannot be examined."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def identify(path: str | Path, root: str | Path | None = None) -> Identity:
    """Subject id, TUSZ split and session of a recording from its path (see the module table).

    Args:
        path: the recording.
        root: corpus folder; only the parts of ``path`` below it are searched for a split.
    """
    path = Path(path)
    parts = path.relative_to(root).parts if root is not None else path.parts
    folders = [p for p in parts[:-1]]
    stem = path.stem
    split, split_at = None, None
    for i, part in enumerate(folders):
        if part.lower() in TUSZ_SPLITS:
            split, split_at = part.lower(), i
    tusz = _TUSZ_FILE.match(stem)
    if split is not None and tusz is None:
        # a TUSZ-like tree whose file names were changed: the patient is the first folder after
        # the split that is not a montage (``01_tcp_ar``) or a 3-digit group (``000``).
        for part in folders[split_at + 1 :]:
            if not (_TUSZ_MONTAGE.match(part) or re.fullmatch(r"\d{3}", part)):
                return Identity(part, split, _session(folders))
    if tusz is not None:
        return Identity(tusz.group(1), split, _session(folders))
    for pattern in _SUBJECT_PATTERNS:
        match = pattern.match(stem)
        if match:
            return Identity(match.group(1), split)
    for part in folders:
        if part.startswith("sub-"):
            return Identity(part, split)
    parent = path.parent.name if path.parent.name else "unknown"
    return Identity(parent, split)


@dataclass(frozen=True)
class TUABRecording:
    """One TUAB recording.

    Attributes:
        path: the EDF file.
        split: ``"train"`` or ``"eval"`` (TUAB's own split).
        label: class index, ``TUAB_CLASSES[label]`` (0 normal, 1 abnormal).
        subject: patient id (from the file name, e.g. ``aaaaaaav`` or ``00000768``).
        montage: the montage folder (``01_tcp_ar``) when present, else None.
    """

    path: Path
    split: str
    label: int
    subject: str
    montage: str | None = None


def find_tuab(root: str | Path) -> list[TUABRecording]:
    """Every TUAB recording under ``root`` (the corpus folder holding ``edf/``, or ``edf/``).

    A recording belongs to the split and class of the nearest ``{train,eval}/{normal,abnormal}``
    pair of folders above it; files anywhere else are ignored. Sorted by path.

    Raises:
        FileNotFoundError: no recording in the TUAB layout under ``root`` (the message shows the
            layout expected).
    """
    root = Path(root)
    found = []
    for path in find_recordings(root):
        parts = [p.lower() for p in path.relative_to(root).parts[:-1]]
        pairs = [
            i
            for i in range(len(parts) - 1)
            if parts[i] in TUAB_SPLITS and parts[i + 1] in TUAB_CLASSES
        ]
        if not pairs:
            continue
        i = pairs[-1]
        montage = next((p for p in parts[i + 2 :] if _TUSZ_MONTAGE.match(p)), None)
        found.append(
            TUABRecording(
                path,
                parts[i],
                TUAB_CLASSES.index(parts[i + 1]),
                identify(path, root).subject,
                montage,
            )
        )
    if not found:
        raise FileNotFoundError(
            f"{root}: no TUAB recordings "
            "(expected edf/{train,eval}/{normal,abnormal}/.../*.edf)"
        )
    return found


def _session(folders: list[str]) -> str | None:
    for part in folders:
        if re.match(r"^s\d{3}(_|$)", part):
            return part
    return None


def recording_key(relpath: str) -> str:
    """A file-name-safe unique key for a recording: ``<stem>-<8 hex of sha1(relpath)>``."""
    stem = Path(relpath).stem
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:80]
    return f"{safe}-{hashlib.sha1(relpath.encode()).hexdigest()[:8]}"


def safe_stem(stem: str) -> str:
    """``stem`` with control characters (newline, tab, ...) and path separators replaced by
    ``_``: safe in a file name and on one line of a text file or list."""
    return re.sub(r"[\x00-\x1f\x7f/\\]", "_", stem) or "_"


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """A distinct output stem for each recording (outputs stay flat: ``OUT/<stem>.*``).

    The stem is the file's stem made safe (:func:`safe_stem`). Stems that collide (compared
    case-insensitively, as on macOS and Windows file systems) get the name of the recording's
    folder as a suffix, ``<stem>_<folder>``; where that still collides, 6 hex digits of the
    folder's path, ``<stem>_<hash>``. Stems that do not collide are unchanged.

    Returns:
        ``{path: stem}`` for every path given.
    """
    base = {p: safe_stem(p.stem) for p in paths}
    counts: dict[str, int] = {}
    for stem in base.values():
        counts[stem.casefold()] = counts.get(stem.casefold(), 0) + 1
    out = {p: stem for p, stem in base.items() if counts[stem.casefold()] == 1}
    taken = {stem.casefold() for stem in out.values()}
    clashing = [p for p in paths if p not in out]
    by_folder = {p: f"{base[p]}_{safe_stem(p.parent.name or 'root')}" for p in clashing}
    folder_counts: dict[str, int] = {}
    for stem in by_folder.values():
        folder_counts[stem.casefold()] = folder_counts.get(stem.casefold(), 0) + 1
    for p in clashing:
        stem = by_folder[p]
        if folder_counts[stem.casefold()] > 1 or stem.casefold() in taken:
            digest = hashlib.sha1(str(p.parent.absolute()).encode()).hexdigest()
            stem = f"{base[p]}_{digest[:6]}"
        out[p] = stem
        taken.add(stem.casefold())
    return {p: out[p] for p in paths}


def label_of(stem: str, labels: dict[str, int]) -> int | None:
    """Class of a recording from its file-stem suffix (longest matching suffix wins), or None.

    E.g. eegmat: ``label_of("Subject07_2", {"_1": 0, "_2": 1}) == 1``.
    """
    hits = [s for s in labels if stem.endswith(s)]
    return labels[max(hits, key=len)] if hits else None


def subject_of(stem: str, subject_regex: str) -> str:
    """Subject id: the first group of ``subject_regex`` matched on the file stem (else the
    stem)."""
    m = re.match(subject_regex, stem)
    return m.group(1) if m and m.groups() and m.group(1) else stem


@dataclass
class Annotations:
    """Events found for one recording and where they came from.

    Attributes:
        events: events from the sidecar files (seconds; EDF+ annotations are not included here,
            they come with the recording).
        sources: the files read, as ``"<kind>:<file name>"`` (``csv_bi:x.csv_bi``, ...).
        notes: remarks worth keeping in the manifest (e.g. a summary that does not list the file).
    """

    events: list[Event]
    sources: list[str]
    notes: list[str]


def sidecar_annotations(edf: str | Path, label_map: dict[str, str] | None = None) -> Annotations:
    """Read every annotation file that belongs to ``edf`` (see the module docstring).

    ``label_map``: lower-case label → label for csv_bi / events.tsv rows (unknown labels are
    errors, see :func:`eegssm.io.annotations.labels.check_label`).

    Raises:
        EEGReadError: an annotation file exists but cannot be parsed (the labels of the recording
            would be wrong, so the caller should treat the recording as failed).
    """
    from eegssm.io.annotations import (
        read_bids_events,
        read_chbmit_summary,
        read_csv_bi,
        read_siena_seizures,
    )

    edf = Path(edf)
    events: list[Event] = []
    sources: list[str] = []
    notes: list[str] = []
    csv_bi = edf.with_suffix(".csv_bi")
    if csv_bi.is_file():
        events += read_csv_bi(csv_bi, label_map).events
        sources.append(f"csv_bi:{csv_bi.name}")
    stem = edf.stem
    tsv_names = [f"{stem}_events.tsv"]
    if stem.endswith("_eeg"):
        tsv_names.append(f"{stem[: -len('_eeg')]}_events.tsv")
    for name in tsv_names:
        tsv = edf.with_name(name)
        if tsv.is_file():
            events += read_bids_events(tsv, label_map).events
            sources.append(f"bids:{tsv.name}")
            break
    for summary in sorted(edf.parent.glob("*-summary.txt")):
        parsed = _folder_list(read_chbmit_summary, summary, edf.name)
        sources.append(f"chbmit:{summary.name}")
        if edf.name in parsed.files:
            events += parsed.events_for(edf.name)
        else:
            notes.append(f"{summary.name} does not list {edf.name}; no seizures assumed")
    for listing in sorted(edf.parent.glob("Seizures-list-*.txt")):
        parsed = _folder_list(read_siena_seizures, listing, edf.name)
        sources.append(f"siena:{listing.name}")
        if edf.name in parsed.files:  # Siena lists only the files that hold seizures
            events += parsed.events_for(edf.name)
    return Annotations(events, sources, notes)


def _folder_list(reader, path: Path, edf_name: str):
    """Parse a folder-level list (CHB-MIT summary, Siena list), passing on only the warnings
    that name ``edf_name`` (a warning about another file of the folder is not this file's)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = reader(path)
    for w in caught:
        if edf_name in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return parsed
