"""MoleculeNet datasets by name: official DeepChem URLs, upstream checksums and a verified cache.

MD5s are those TorchDrug records for each DeepChem file; a CSV taken out of a zip archive (FreeSolv)
gets its own MD5 recorded beside it when the archive verifies, checked on every use like the others.
``$LGMCL_DATA_URL`` (or ``base_url``) replaces the DeepChem base URL, e.g. for a mirror or an offline
copy served locally.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from lgmcl_dgl.data.artifacts import atomic_write_bytes, atomic_write_text, temporary_beside
from lgmcl_dgl.data.locations import EMBEDDED_DIR, cache_dir

log = logging.getLogger(__name__)

DEEPCHEM_BASE_URL = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/"

TOX21_TASKS = ("NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma",
               "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53")
MUV_TASKS = ("MUV-466", "MUV-548", "MUV-600", "MUV-644", "MUV-652", "MUV-689", "MUV-692", "MUV-712", "MUV-713",
             "MUV-733", "MUV-737", "MUV-810", "MUV-832", "MUV-846", "MUV-852", "MUV-858", "MUV-859")


class DownloadError(RuntimeError):
    """A dataset could not be fetched, or what arrived is not the upstream file."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    filename: str  # path below the base URL
    md5: str  # of the upstream file as downloaded
    smiles_column: str
    task_columns: tuple[str, ...] | None  # None: every column but the SMILES one
    n_tasks: int
    task_type: str  # "classification" | "regression"
    n_rows: int
    description: str
    member: str | None = None  # the CSV inside a zip archive

    @property
    def metric(self) -> str:
        return "roc_auc" if self.task_type == "classification" else "rmse"


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("bbbp", "BBBP.csv", "66286cb9e6b148bd75d80c870df580fb", "smiles", ("p_np",), 1,
                "classification", 2050, "blood-brain barrier penetration"),
    DatasetSpec("bace", "bace.csv", "ba7f8fa3fdf463a811fa7edea8c982c2", "mol", ("Class",), 1,
                "classification", 1513, "beta-secretase 1 inhibition"),
    DatasetSpec("clintox", "clintox.csv.gz", "db4f2df08be8ae92814e9d6a2d015284", "smiles",
                ("FDA_APPROVED", "CT_TOX"), 2, "classification", 1484, "FDA approval and clinical-trial toxicity"),
    DatasetSpec("tox21", "tox21.csv.gz", "2882d69e70bba0fec14995f26787cc25", "smiles", TOX21_TASKS, 12,
                "classification", 7831, "12 toxicity assays"),
    DatasetSpec("toxcast", "toxcast_data.csv.gz", "92911bbf9c1e2ad85231014859388cd6", "smiles", None, 617,
                "classification", 8576, "617 in-vitro toxicity assays"),
    DatasetSpec("sider", "sider.csv.gz", "77c0ef421f7cc8ce963c5836c8761fd2", "smiles", None, 27,
                "classification", 1427, "27 side-effect organ classes"),
    DatasetSpec("hiv", "HIV.csv", "9ad10c88f82f1dac7eb5c52b668c30a7", "smiles", ("HIV_active",), 1,
                "classification", 41127, "inhibition of HIV replication"),
    DatasetSpec("muv", "muv.csv.gz", "9c40bd41310991efd40f4d4868fa3ddf", "smiles", MUV_TASKS, 17,
                "classification", 93087, "17 PubChem virtual-screening assays"),
    DatasetSpec("esol", "delaney-processed.csv", "0c90a51668d446b9e3ab77e67662bd1c", "smiles",
                ("measured log solubility in mols per litre",), 1, "regression", 1128, "aqueous solubility (log mol/L)"),
    DatasetSpec("freesolv", "molnet_publish/FreeSolv.zip", "8d681babd239b15e2f8b2d29f025577a", "smiles",
                ("expt",), 1, "regression", 642, "hydration free energy (kcal/mol)", member="SAMPL.csv"),
    DatasetSpec("lipophilicity", "Lipophilicity.csv", "85a0e1cb8b38b0dfc3f96ff47a57f0ab", "smiles", ("exp",), 1,
                "regression", 4200, "octanol/water distribution coefficient logD7.4"),
)}

#: Shipped inside the package so the default job runs with no network (BBBP, MIT-licensed copy; see NOTICE).
EMBEDDED = {"bbbp": EMBEDDED_DIR / "BBBP.csv"}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def base_url(override: str | None = None) -> str:
    url = override or os.environ.get("LGMCL_DATA_URL") or DEEPCHEM_BASE_URL
    return url if url.endswith("/") else url + "/"


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError))


@retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(4),
       wait=wait_exponential(multiplier=0.5, max=8), reraise=True)
def _download(url: str, dest: Path, timeout: float) -> str:
    """Stream ``url`` to ``dest``; return the MD5 of what arrived."""
    md5 = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        while block := response.read(1 << 20):
            md5.update(block)
            out.write(block)
    return md5.hexdigest()


def fetch(name: str, *, cache: Path | None = None, url: str | None = None, timeout: float = 60.0) -> Path:
    """Return the local CSV of a registry dataset, downloading and verifying it on first use.

    The downloaded bytes must match the upstream MD5; a mismatch is refused and nothing is cached.
    """
    spec = get_spec(name)
    cache = Path(cache) if cache is not None else cache_dir()
    target_dir = cache / "moleculenet"
    raw = target_dir / Path(spec.filename).name
    final = target_dir / spec.member if spec.member else raw
    if final.is_file():
        expected = _recorded_md5(final) if spec.member else spec.md5
        if _md5_file(final) == expected:
            return final
        log.warning("%s: the cached file does not match its checksum (changed since it was cached); "
                    "downloading it again", final)
    if spec.member and raw.is_file() and _md5_file(raw) == spec.md5:  # the archive, copied in for offline use
        return _extract(raw, spec.member, final)
    target_dir.mkdir(parents=True, exist_ok=True)
    source = base_url(url) + spec.filename
    fd, tmp_name = temporary_beside(raw, ".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            got = _download(source, tmp, timeout)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{spec.name}: HTTP {exc.code} {exc.reason} for {source}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise DownloadError(f"{spec.name}: cannot reach {source}: {exc}") from exc
        if got != spec.md5:
            raise DownloadError(
                f"{spec.name}: checksum mismatch for {source}: md5 {got}, expected {spec.md5}; "
                "the file is not the upstream one and was not cached")
        if spec.member:
            _extract(tmp, spec.member, final)
        else:
            os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _member_path(archive: zipfile.ZipFile, member: str) -> str:
    for entry in archive.namelist():
        if Path(entry).name == member:
            return entry
    raise DownloadError(f"{archive.filename}: no {member} inside the archive")


def _extract(archive_path: Path, member: str, final: Path) -> Path:
    """Take ``member`` out of a verified archive into ``final``; the upstream checksum covers only the
    archive, so the member's MD5 is recorded beside it and checked on each later use."""
    with zipfile.ZipFile(archive_path) as archive:
        data = archive.read(_member_path(archive, member))
    atomic_write_bytes(final, data)
    atomic_write_text(_checksum_file(final), hashlib.md5(data).hexdigest() + "\n")
    return final


def _checksum_file(member: Path) -> Path:
    return member.with_name(member.name + ".md5")


def _recorded_md5(member: Path) -> str | None:
    """The MD5 recorded when ``member`` was taken out of its verified archive (None: not recorded)."""
    path = _checksum_file(member)
    return path.read_text().strip() if path.is_file() else None


def _md5_file(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            md5.update(block)
    return md5.hexdigest()
