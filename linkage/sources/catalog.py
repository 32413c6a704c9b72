"""What each source kind takes, read from the shape registry (for `linkage sources`).

>>> kinds = {kind["kind"]: kind for kind in source_kinds()}
>>> kinds["ehr_csv"]["layouts"][0]["files"][0]["required"][:3]
['mrn', 'last_name', 'first_name']
>>> kinds["person"]["settings"]
['key', 'columns', 'constants']
"""

from __future__ import annotations

from typing import Any

from linkage.sources.shapes import KINDS, SHAPES
from linkage.store import PERSON_FIELDS

# Every kind takes these besides its own settings (linkage.config.SourceConfig).
COMMON_SETTINGS = ("name", "kind", "path", "encoding", "date_format", "snapshot", "deduplicated")


def source_kinds() -> list[dict[str, Any]]:
    """One entry per kind: its description, the files it reads, each layout's files with
    their required and optional columns, how the record key is made, and its settings."""
    entries = []
    for kind in KINDS.values():
        layouts = []
        for name in kind.shapes:
            shape = SHAPES[name]
            files = [{"file": file or "(the path)",
                      "required": list(shape.required.get(file, ())),
                      "optional": list(shape.optional) if file == "" else []}
                     for file in shape.files]
            if shape.reader == "ndjson":  # no header: each line is one resource
                files = [{"file": "(the path)", "required": [], "optional": [],
                          "line": "one FHIR R4 Patient resource"}]
            layouts.append({"layout": name, "key": shape.key, "files": files})
        entries.append({
            "kind": kind.name, "description": kind.description,
            "path": ("a folder" if kind.suffixes == ("",)
                     else f"a {' or '.join(kind.suffixes)} file, a folder of them, or a glob"),
            "layouts": layouts, "settings": list(kind.settings),
            **({"fields": list(PERSON_FIELDS)} if kind.name == "person" else {}),
        })
    return entries


def describe_kinds() -> str:
    """`source_kinds` as text, one block per kind."""
    lines = [f"every source takes: {', '.join(COMMON_SETTINGS)}"]
    for entry in source_kinds():
        lines += ["", f"{entry['kind']}: {entry['description']}", f"  path: {entry['path']}"]
        for layout in entry["layouts"]:
            indent = "  "
            if len(entry["layouts"]) > 1:
                lines.append(f"  layout {layout['layout']}:")
                indent = "    "
            lines.append(f"{indent}key: {layout['key']}")
            for file in layout["files"]:
                if "line" in file:
                    lines.append(f"{indent}each line: {file['line']}")
                    continue
                where = "" if file["file"] == "(the path)" else f" of {file['file']}"
                lines.append(f"{indent}required columns{where}: {', '.join(file['required'])}")
                if file["optional"]:
                    lines.append(f"{indent}optional columns{where}: {', '.join(file['optional'])}")
        if entry["kind"] == "person":
            lines += ["  key: the `key` columns (one: its value; several: joined with '-')",
                      "  columns: any; `columns` maps file column -> field (several columns to "
                      "one field are joined with a space)",
                      f"  fields: {', '.join(entry['fields'])}"]
        if entry["settings"]:
            lines.append(f"  settings: {', '.join(entry['settings'])}")
    return "\n".join(lines)
