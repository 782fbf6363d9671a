"""Where an export goes once it is made: a download (recorded in the audit log) or a file in the export
folder, for pipelines that read from disk. A file name is never a path: one with `/`, `\\` or `..` is
refused, so no export lands outside the export folder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from app.services import audit
from app.services.audit import AuditAction
from app.services.auth import CurrentUser, Role, require_role


class ExportPathError(ValueError):
    """An export file name that would leave the export folder."""


def safe_file_name(file_name: str) -> str:
    if (
        not file_name
        or file_name in (".", "..")
        or any(c in file_name for c in "/\\\x00")
        or ".." in file_name
    ):
        raise ExportPathError(f"{file_name!r} is not a plain file name; exports stay in the export folder.")
    return file_name


def record_download(session: Session, user: CurrentUser, file_name: str, notes: int) -> None:
    require_role(user, Role.CODER)
    audit.record_now(session, user, AuditAction.EXPORTED, f"download {file_name}", {"notes": notes})


def save_export(
    session: Session, user: CurrentUser, export_dir: Path, file_name: str, data: bytes, notes: int
) -> Path:
    """Writes the export to a new time-stamped folder inside `export_dir` and records it; OSError when the
    folder cannot be written."""
    require_role(user, Role.CODER)
    folder = export_dir / datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
    path = folder / safe_file_name(file_name)
    if not path.resolve().is_relative_to(export_dir.resolve()):
        raise ExportPathError(f"{path} is outside the export folder {export_dir}.")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    audit.record_now(session, user, AuditAction.EXPORTED, f"file {path}", {"notes": notes})
    return path
