"""Finding an export's files (a folder, or its status manifest) and reading them line by line: a malformed line
is reported with its file and line and costs only itself."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from cpt64640_cds.audit.export import ExportError, ExportFile, discover, read
from cpt64640_cds.audit.model import MalformedLine

PATIENT = {"resourceType": "Patient", "id": "p1"}
PROCEDURE = {"resourceType": "Procedure", "id": "x1", "subject": {"reference": "Patient/p1"}}


def _lines(*resources: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in resources)


def test_a_folder_is_its_ndjson_files_gzipped_or_not_in_name_order(tmp_path):
    (tmp_path / "Procedure.1.ndjson.gz").write_bytes(gzip.compress(_lines(PROCEDURE).encode()))
    (tmp_path / "Patient.ndjson").write_text(_lines(PATIENT))
    (tmp_path / "README.txt").write_text("not part of the export")
    (tmp_path / "Observation.ndjson.part").write_text("an unfinished download")
    export = discover(tmp_path)
    assert export.root == tmp_path
    assert [f.label for f in export.files] == ["Patient.ndjson", "Procedure.1.ndjson.gz"]


@pytest.mark.parametrize("make", ["missing", "empty folder"])
def test_a_missing_path_or_a_folder_without_ndjson_is_refused(tmp_path, make):
    path = tmp_path / "export"
    if make == "empty folder":
        path.mkdir()
        (path / "notes.txt").write_text("x")
    with pytest.raises(ExportError, match=str(path)) as error:
        discover(path)
    assert "\n" not in str(error.value)


def test_a_manifest_lists_files_relative_to_it_or_as_file_urls(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "Patient.ndjson").write_text(_lines(PATIENT))
    elsewhere = tmp_path / "elsewhere" / "Procedure.ndjson"
    elsewhere.parent.mkdir()
    elsewhere.write_text(_lines(PROCEDURE))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "transactionTime": "2026-01-01T00:00:00Z",
                "request": "https://ehr.example/fhir/$export",
                "requiresAccessToken": True,
                "output": [
                    {"type": "Patient", "url": "out/Patient.ndjson"},
                    {"type": "Procedure", "url": elsewhere.as_uri()},
                ],
                "error": [],
            }
        )
    )
    export = discover(manifest)
    assert export.root == tmp_path
    assert [(f.label, f.path) for f in export.files] == [
        ("out/Patient.ndjson", tmp_path / "out" / "Patient.ndjson"),
        ("elsewhere/Procedure.ndjson", elsewhere),
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", 'no "output" list'),
        ('{"output": "Patient.ndjson"}', 'no "output" list'),
        ('{"output": [{"type": "Patient"}]}', 'output[0] has no "url"'),
        ('{"output": []}', "lists no output files"),
        ('{"output": [{"type": "Patient", "url": "gone.ndjson"}]}', "gone.ndjson does not exist"),
        ('{"output": [{"url": "ftp://host/Patient.ndjson"}]}', "unsupported URL scheme (ftp:)"),
        ('{"output": [{"url": "file://other-host/Patient.ndjson"}]}', "another host"),
    ],
)
def test_a_bad_manifest_is_refused_in_one_line_naming_it(tmp_path, content, problem):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(content)
    with pytest.raises(ExportError) as error:
        discover(manifest)
    assert str(error.value).startswith(f"{manifest}: ")
    assert problem in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("url", ["https://ehr.example/files/Patient.ndjson", "http://ehr.example/Patient.ndjson"])
def test_remote_urls_are_refused_the_audit_does_not_download(tmp_path, url):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"output": [{"type": "Patient", "url": url}]}))
    with pytest.raises(ExportError, match=r"output\[0\] is a remote URL .*does not download"):
        discover(manifest)


def _file(tmp_path: Path, name: str, data: bytes) -> ExportFile:
    (tmp_path / name).write_bytes(data)
    return ExportFile(name, tmp_path / name)


def test_a_malformed_line_is_reported_with_its_file_and_line_and_the_rest_is_read(tmp_path):
    text = _lines(PATIENT) + "\n   \n" + '{"resourceType": "Procedure", "id": \n' + "[1]\n" + '{"id": "x"}\n'
    text += _lines(PROCEDURE).rstrip("\n")  # the last line without its newline
    found = list(read(_file(tmp_path, "Mixed.ndjson", text.encode())))
    assert [(label, number) for label, number, _ in found] == [("Mixed.ndjson", n) for n in (1, 4, 5, 6, 7)]
    assert found[0][2] == PATIENT and found[4][2] == PROCEDURE
    problems = [item for _, _, item in found[1:4]]
    assert all(isinstance(p, MalformedLine) for p in problems)
    assert [(p.file, p.line) for p in problems] == [("Mixed.ndjson", 4), ("Mixed.ndjson", 5), ("Mixed.ndjson", 6)]
    assert problems[0].problem.startswith("not JSON (")
    assert [p.problem for p in problems[1:]] == ["not a JSON object", "no resourceType"]


def test_bytes_not_in_utf8_read_as_replacement_characters_as_spark_reads_them_and_a_leading_bom_is_skipped(
    tmp_path,
):
    data = b"\xef\xbb\xbf" + _lines(PATIENT).encode() + b'{"resourceType": "Patient", "id": "\xff"}\n'
    found = list(read(_file(tmp_path, "Patient.ndjson", data)))
    assert found[0] == ("Patient.ndjson", 1, PATIENT)
    assert found[1] == ("Patient.ndjson", 2, {"resourceType": "Patient", "id": "\ufffd"})


@pytest.mark.parametrize("name", ["Procedure.ndjson.gz", "Procedure.ndjson"])  # by suffix, or by magic bytes alone
def test_gzipped_files_are_read_by_suffix_or_by_their_magic_bytes(tmp_path, name):
    found = list(read(_file(tmp_path, name, gzip.compress(_lines(PROCEDURE, PROCEDURE).encode()))))
    assert found == [(name, 1, PROCEDURE), (name, 2, PROCEDURE)]


def test_a_truncated_gzip_file_keeps_what_was_read_and_says_where_it_broke_off(tmp_path):
    data = gzip.compress(_lines(*[PROCEDURE] * 2000).encode())
    found = list(read(_file(tmp_path, "Procedure.ndjson.gz", data[: len(data) - 20])))
    *resources, (label, number, last) = found
    assert resources and all(item == PROCEDURE for _, _, item in resources)
    assert isinstance(last, MalformedLine) and last.file == label == "Procedure.ndjson.gz"
    assert number == last.line == len(resources) + 1 and last.problem.startswith("unreadable from here")
