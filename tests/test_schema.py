from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from vfiocompat._schema import SCHEMA_NAMES, schema, schema_text, table_schema_issues

from .conftest import ACME_TABLE, BASE_TABLE

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_shipped_schema_is_draft_2020_12_with_an_id(name: str) -> None:
    document = schema(name)
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"].endswith(f"/{name}/1.json")
    # The repository's schemas/ and the package's are one and the same file.
    assert (ROOT / "schemas" / f"{name}.schema.json").read_text("utf-8") == schema_text(name)


def test_unknown_schema_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown schema"):
        schema_text("nope")


def test_shipped_tables_conform() -> None:
    from vfiocompat._table_files import read_table

    assert table_schema_issues(read_table(ACME_TABLE).data) == []
    assert table_schema_issues(copy.deepcopy(BASE_TABLE)) == []


def test_issues_carry_path_message_and_code() -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["rules"][0]["conditions"][0]["test"] = "same"
    data["table"]["prefixes"] = [f"x{i}" for i in range(300)]
    issues = table_schema_issues(json.loads(json.dumps(data)))
    assert [(path, code) for path, _, code in issues] == [
        (("rules", 0, "conditions", 0, "test"), "VC503"),
        (("table", "prefixes"), "VC507"),
    ]
    assert "'same' is not one of" in issues[0][1]


def test_identifiers_cannot_smuggle_a_newline() -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["table"]["id"] = "t\n"
    assert [path for path, _, _ in table_schema_issues(data)] == [("table", "id")]


def test_messages_quote_values_boundedly() -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["rules"][0]["conditions"][0]["test"] = "x" * 100_000
    data["table"].update({f"k{i}": 1 for i in range(1000)})
    issues = table_schema_issues(data)
    assert all(len(message) < 400 for _, message, _ in issues), [m[:100] for _, m, _ in issues]
    assert any("and 995 more" in message for _, message, _ in issues)


def test_allow_downgrade_is_bounded_in_the_schema_too() -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["rules"][0]["allow_downgrade"] = [f"f{i}" for i in range(129)]
    assert [(path, code) for path, _, code in table_schema_issues(data)] == [(("rules", 0, "allow_downgrade"),
                                                                            "VC507")]
