"""The annotation round trip: texts to label out (CSV, JSONL, or Label Studio's import JSON), labeled texts back in.

    write_batch("to_label.csv", rows, record)          # rows: id, text, score, guess, rank; + to_label.csv.lowdata.json
    new = read_annotations("to_label.csv")              # [{id, text, label, where}] (where: "line 3" / "task 2")
    merge("annotated.json", "labeled.tsv", "labeled_v2.tsv", batch="to_label.json")

A row's id is the SHA-1 of its text (lowdata.active.pool.text_id), so an id names the same text in every file and
a changed text is caught. The sidecar `<batch>.lowdata.json` records what was asked (ids, texts, strategy, pool) so
`merge` can check that every id came from the batch. merge never edits its inputs: it writes a new labeled file with
every row of the old one first, refuses a row that would relabel an already-labeled text, and fails on a missing,
unknown or duplicate id naming the file and line (or Label Studio task).
"""
from __future__ import annotations

import csv
import io
import json
import os

from ..data import DataError
from ..data.schema import json_loads
from .pool import text_id

SIDE = ".lowdata.json"


def label_studio_config(labels: list[str]) -> str:
    """A Label Studio labeling config for a single-choice text task whose names match what merge reads."""
    from xml.sax.saxutils import quoteattr

    choices = "".join(f"<Choice value={quoteattr(y)}/>" for y in labels)
    return f'<View><Text name="text" value="$text"/><Choices name="label" toName="text">{choices}</Choices></View>'


def write_batch(path: str, rows: list[dict], record: dict) -> None:
    """The texts to label, in the format the extension names (.csv, .jsonl, .json = Label Studio tasks with the
    model's guess as a prediction), and the sidecar record; both written atomically."""
    from ..runs import write_text

    ext = os.path.splitext(path)[1].lower()
    cols = ["id", "text", "label", "guess", "score", "rank"]
    if ext == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows([r["id"], r["text"], "", r.get("guess") or "", f"{r['score']:.6g}", r["rank"]] for r in rows)
        body = buf.getvalue()
    elif ext == ".jsonl":
        body = "".join(json.dumps({**{c: r.get(c) for c in cols if c != "label"}, "label": None},
                                  ensure_ascii=False) + "\n" for r in rows)
    elif ext == ".json":
        tasks = []
        for r in rows:
            t = {"data": {"text": r["text"], "lowdata_id": r["id"]}}
            if r.get("guess") is not None:
                t["predictions"] = [{"model_version": f"lowdata {record.get('strategy')}", "score": float(r["score"]),
                                     "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                                 "value": {"choices": [r["guess"]]}}]}]
            tasks.append(t)
        body = json.dumps(tasks, ensure_ascii=False, indent=1) + "\n"
    else:
        raise DataError(f"unknown output format {ext!r} (expected .csv, .jsonl, or .json for Label Studio)", path)
    write_text(path, body)
    side = {**record, "format": ext[1:], "ids": [r["id"] for r in rows], "texts": [r["text"] for r in rows]}
    if record.get("labels"):
        side["label_studio_config"] = label_studio_config(record["labels"])
    write_text(path + SIDE, json.dumps(side, ensure_ascii=False, indent=1) + "\n")


def read_annotations(path: str) -> list[dict]:
    """[{id, text, label, where}] from an annotated batch: CSV / JSONL with id, text, label (empty label = not
    labeled yet: label None), or a Label Studio export (JSON list of tasks; the last non-cancelled annotation's first
    choice)."""
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, encoding="utf-8", newline="") as f:
            raw = f.read()
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason} at byte {e.start})", path) from None
    out = []
    if ext == ".csv":
        rd = csv.DictReader(io.StringIO(raw))
        missing = {"id", "label"} - set(rd.fieldnames or [])
        if missing:
            raise DataError(f"expected columns id, text, label; missing {sorted(missing)}", path, 1)
        for r in rd:
            out.append({"id": (r.get("id") or "").strip(), "text": r.get("text"),
                        "label": (r.get("label") or "").strip() or None, "where": f"line {rd.line_num}"})
    elif ext == ".jsonl":
        for i, ln in enumerate(raw.splitlines(), 1):
            if not ln.strip():
                continue
            try:
                r = json_loads(ln)
            except json.JSONDecodeError as e:
                raise DataError(f"not valid JSON ({e.msg})", path, i) from None
            if not isinstance(r, dict):
                raise DataError("expected a JSON object with id, text, label", path, i)
            lab = r.get("label")
            out.append({"id": str(r.get("id") or "").strip(), "text": r.get("text"),
                        "label": None if lab is None or not str(lab).strip() else str(lab).strip(),
                        "where": f"line {i}"})
    elif ext == ".json":
        try:
            tasks = json_loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON ({e.msg})", path, e.lineno) from None
        if not isinstance(tasks, list):
            raise DataError("expected a Label Studio export: a JSON list of tasks", path)
        for i, t in enumerate(tasks, 1):
            data = t.get("data") if isinstance(t, dict) else None
            if not isinstance(data, dict):
                raise DataError(f"task {i}: expected an object with \"data\"", path)
            out.append({"id": str(data.get("lowdata_id") or "").strip(), "text": data.get("text"),
                        "label": _ls_choice(t, path, i), "where": f"task {i}"})
    else:
        raise DataError(f"unknown annotated format {ext!r} (expected .csv, .jsonl, or a Label Studio .json export)",
                        path)
    return out


def _ls_choice(task: dict, path: str, i: int):
    anns = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not anns:
        return None
    for res in anns[-1].get("result") or []:
        ch = (res.get("value") or {}).get("choices") if isinstance(res, dict) else None
        if ch:
            if not isinstance(ch, list) or not all(isinstance(c, (str, int)) for c in ch):
                raise DataError(f"task {i}: choices {ch!r} (expected a list holding one label)", path)
            if len(ch) != 1:
                raise DataError(f"task {i}: {len(ch)} choices {ch} (expected one label per text)", path)
            return str(ch[0]).strip() or None
    return None


def merge(annotated: str, labeled: str | None, out: str, *, batch: str | None = None, partial: bool = False,
          new_labels: bool = False, overwrite: bool = False, fmt: str | None = None) -> dict:
    """Write `out` = every row of `labeled` + the annotated rows. Fails (DataError naming file and line) on a row
    without id, a duplicate id, an id not in the batch, a text that does not match its id, an unknown label (unless
    new_labels), a text already labeled differently, and (unless partial) a batch id left unlabeled."""
    from ..augment.run import check_output_ext, write_rows
    from ..data import read
    from ..runs import output_file, write_text

    output_file(out, [p for p in (annotated, labeled, batch) if p], overwrite)
    check_output_ext(out)
    side_path = (batch or annotated) + SIDE
    if not os.path.exists(side_path):
        raise DataError(f"no selection record {os.path.basename(side_path)} beside it (written by lowdata select; "
                        f"give --batch the file select wrote)", batch or annotated)
    try:
        with open(side_path, encoding="utf-8") as f:
            side = json_loads(f.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"not a selection record ({e}); expected the JSON file lowdata select wrote", side_path) \
            from None
    if not (isinstance(side, dict) and isinstance(side.get("ids"), list) and isinstance(side.get("texts"), list)
            and len(side["ids"]) == len(side["texts"])):
        raise DataError("not a selection record (expected ids and texts, one per selected text, as lowdata select "
                        "writes them)", side_path)
    asked = {i: t for i, t in zip(side["ids"], side["texts"])}
    old = read(labeled, format=fmt) if labeled and os.path.exists(labeled) else None
    if labeled and old is None:
        raise DataError("labeled file not found", labeled)
    have = {} if old is None else {t: (y, ln) for t, y, ln in zip(old.texts, old.labels, old.lines)}
    known = set(side.get("labels") or []) | (set(old.labels) if old is not None else set())
    seen, rows, same, unlabeled = {}, [], 0, []
    for r in read_annotations(annotated):
        where = f"{annotated}, {r['where']}"
        if not r["id"]:
            raise DataError(f"{r['where']}: no id (every row needs the id lowdata select wrote)", annotated)
        if r["id"] in seen:
            raise DataError(f"{r['where']}: duplicate id {r['id']} (first at {seen[r['id']]})", annotated)
        seen[r["id"]] = r["where"]
        if r["id"] not in asked:
            raise DataError(f"{r['where']}: unknown id {r['id']} (not in the batch {os.path.basename(side_path)})",
                            annotated)
        text = asked[r["id"]]
        if r["text"] is not None and r["text"] != text and text_id(str(r["text"])) != r["id"]:
            raise DataError(f"{r['where']}: the text of id {r['id']} was changed (expected {text[:60]!r})", annotated)
        if r["label"] is None:
            unlabeled.append(r["id"])
            continue
        if known and r["label"] not in known and not new_labels:
            raise DataError(f"{r['where']}: unknown label {r['label']!r} (known: {', '.join(sorted(known))}; "
                            f"--new-labels to add it)", annotated)
        if text in have:
            y, ln = have[text]
            if y != r["label"]:
                raise DataError(f"{r['where']}: would relabel a labeled text: {labeled} line {ln} says {y!r}, "
                                f"this says {r['label']!r} (fix one of them)", annotated)
            same += 1
            continue
        rows.append((text, r["label"], "annotated"))
        have[text] = (r["label"], where)
    missing = [i for i in asked if i not in seen] + unlabeled
    if missing and not partial:
        raise DataError(f"{len(missing)} of the {len(asked)} texts of the batch have no label (e.g. id {missing[0]}); "
                        f"label them, or --partial to merge the others", annotated)
    prev = [] if old is None else [(t, y, "labeled") for t, y in zip(old.texts, old.labels)]
    buf = io.StringIO()
    write_rows(buf, out, prev + rows)
    write_text(out, buf.getvalue())
    return {"kept": len(prev), "added": len(rows), "already_labeled": same, "left_unlabeled": len(missing),
            "total": len(prev) + len(rows)}
