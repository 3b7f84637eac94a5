"""`split_statements`: a file split at top-level semicolons only, as the Supabase CLI records it."""

from __future__ import annotations

import pytest

from workflow_logs._migrate import split_statements


def test_split_when_plain_statements_then_one_per_semicolon_trimmed():
    assert split_statements("select 1;\n  select 2 ;\n\nselect 3;") == ["select 1", "select 2", "select 3"]


def test_split_when_last_statement_has_no_semicolon_then_it_is_kept():
    assert split_statements("select 1;\nselect 2\n") == ["select 1", "select 2"]


def test_split_when_empty_statements_then_they_are_dropped():
    assert split_statements(";;\n select 1;;  ;") == ["select 1"]


def test_split_when_tail_is_only_comments_then_it_is_dropped():
    assert split_statements("select 1;\n-- the end\n/* really; */\n") == ["select 1"]


def test_split_when_comment_precedes_a_statement_then_it_stays_with_that_statement():
    assert split_statements("-- header\ncreate table t (id int);") == ["-- header\ncreate table t (id int)"]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 'a;b';select 2", ["select 'a;b'", "select 2"]),
        ("select 'it''s; fine';select 2", ["select 'it''s; fine'", "select 2"]),
        ("select ''';''';select 2", ["select ''';'''", "select 2"]),
        ('select 1 as "x;y";select 2', ['select 1 as "x;y"', "select 2"]),
        ('select 1 as "a"";b";select 2', ['select 1 as "a"";b"', "select 2"]),
    ],
    ids=["single", "doubled-quote", "only-quotes", "identifier", "identifier-doubled-quote"],
)
def test_split_when_semicolon_is_inside_quotes_then_it_does_not_split(sql, expected):
    assert split_statements(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1; -- a; b\nselect 2;", ["select 1", "-- a; b\nselect 2"]),
        ("select 1 /* a; b */ + 1; select 2", ["select 1 /* a; b */ + 1", "select 2"]),
        (
            "/* outer /* inner; */ still comment; */ select 1; select 2",
            ["/* outer /* inner; */ still comment; */ select 1", "select 2"],
        ),
        ("select 1; -- no newline at the end;", ["select 1"]),
        ("select '--not a comment;'; select 2", ["select '--not a comment;'", "select 2"]),
        ("select 1 - -1; select 2", ["select 1 - -1", "select 2"]),
    ],
    ids=["line", "block", "nested-block", "line-at-eof", "dashes-in-string", "minus-minus-spaced"],
)
def test_split_when_semicolon_is_inside_a_comment_then_it_does_not_split(sql, expected):
    assert split_statements(sql) == expected


def test_split_when_dollar_quoted_body_has_semicolons_then_the_body_is_one_statement():
    sql = (
        "create function f() returns int language sql as $$ select 1; select 2; $$;\n"
        "select f();"
    )

    assert split_statements(sql) == [
        "create function f() returns int language sql as $$ select 1; select 2; $$",
        "select f()",
    ]


def test_split_when_tagged_dollar_quote_contains_untagged_dollar_quotes_then_they_do_not_close_it():
    body = "do $body$\nbegin\n  execute $$ select 1; $$;\n  perform 'x;';\nend\n$body$"

    assert split_statements(body + ";\nselect 2;") == [body, "select 2"]


def test_split_when_dollar_quote_tags_differ_then_only_the_same_tag_closes():
    sql = "select $a$ $b$ ; $b$ ; $a$; select 2"

    assert split_statements(sql) == ["select $a$ $b$ ; $b$ ; $a$", "select 2"]


def test_split_when_dollar_sign_is_a_parameter_then_it_is_not_a_quote():
    assert split_statements("select $1;select $2") == ["select $1", "select $2"]


def test_split_when_quotes_and_comments_hide_each_other_then_the_first_one_opened_wins():
    sql = "select '/*';select 2 /* ' */;select '$$';select 4"

    assert split_statements(sql) == ["select '/*'", "select 2 /* ' */", "select '$$'", "select 4"]


def test_split_when_dollar_quote_is_unterminated_then_the_rest_is_one_statement():
    assert split_statements("select 1; select $$ a; b") == ["select 1", "select $$ a; b"]
