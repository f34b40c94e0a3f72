"""Configuration: validated at once, every problem named by field, never holding a secret."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from connectors.exceptions import SourceConfigError
from connectors.http_pull import HttpPullConfig, HttpPullConfigError, HttpPullSource, load_configs

README_EXAMPLE = Path(__file__).resolve().parents[3] / "connectors" / "http_pull" / "README.md"


def _base(**extra: object) -> dict[str, object]:
    return {
        "name": "products_api",
        "dataset": "products",
        "url": "https://api.example.com/v1/p",
        **extra,
    }


INCREMENTAL = {"cursor_field": "updated_at", "param": "updated_since"}
KEYSET_INCREMENTAL = {**INCREMENTAL, "id_field": "id", "id_param": "after_id"}


def test_a_full_config_loads_with_every_pagination_style() -> None:
    styles = [
        {
            "type": "page_number",
            "page_param": "p",
            "start": 0,
            "size_param": "n",
            "page_size": 50,
            "reread_until_stable": True,
        },
        {
            "type": "offset",
            "offset_param": "skip",
            "limit_param": "take",
            "limit": 10,
            "reread_until_stable": True,
            "max_passes": 3,
        },
        {"type": "keyset", "size_param": "limit", "page_size": 200},
        {"type": "cursor", "cursor_param": "after", "cursor_path": "meta.next"},
        {"type": "next_link", "next_path": "links.next"},
        {"type": "next_link"},
        {"type": "none"},
    ]
    for style in styles:
        cfg = HttpPullConfig.from_dict(
            _base(
                headers={"Accept": "application/json"},
                auth={"token_env": "PRODUCTS_TOKEN"},
                record_path="data.items",
                pagination=style,
                incremental=KEYSET_INCREMENTAL,
                schedule="*/15 * * * *",
            )
        )
        assert cfg.pagination.type == style["type"]


@pytest.mark.parametrize("style", ["page_number", "offset"])
def test_an_incremental_pull_by_page_numbers_or_offsets_is_refused_unless_it_rereads(
    style: str,
) -> None:
    with pytest.raises(HttpPullConfigError) as info:
        HttpPullConfig.from_dict(_base(pagination={"type": style}, incremental=INCREMENTAL))
    text = str(info.value)
    assert f"pagination.type: {style} with incremental loses records" in text
    assert "type: keyset" in text and "reread_until_stable: true" in text
    safe = {"type": style, "reread_until_stable": True}
    assert HttpPullConfig.from_dict(_base(pagination=safe, incremental=INCREMENTAL))
    # a full pull each time reads everything again: nothing to refuse
    assert HttpPullConfig.from_dict(_base(pagination={"type": style})).incremental is None


def test_keyset_pagination_needs_the_id_of_the_position() -> None:
    with pytest.raises(HttpPullConfigError, match="keyset pages by the position .* id_param"):
        HttpPullConfig.from_dict(_base(pagination={"type": "keyset"}, incremental=INCREMENTAL))
    with pytest.raises(HttpPullConfigError, match="id_field and id_param go together"):
        HttpPullConfig.from_dict(_base(incremental={**INCREMENTAL, "id_field": "id"}))
    cfg = HttpPullConfig.from_dict(
        _base(pagination={"type": "keyset"}, incremental=KEYSET_INCREMENTAL)
    )
    assert cfg.concurrency_warning() is None


@pytest.mark.parametrize(
    "pagination", [{"type": "cursor", "cursor_path": "next"}, {"type": "next_link"}]
)
def test_incremental_with_opaque_page_tokens_warns_that_safety_depends_on_the_api(
    pagination: dict[str, str],
) -> None:
    cfg = HttpPullConfig.from_dict(_base(pagination=pagination, incremental=INCREMENTAL))
    warning = cfg.concurrency_warning()
    assert warning is not None and "only if the API's page tokens or links are keyset" in warning
    assert HttpPullConfig.from_dict(_base(pagination=pagination)).concurrency_warning() is None


def test_every_problem_is_reported_at_once_with_its_field() -> None:
    with pytest.raises(HttpPullConfigError) as info:
        HttpPullConfig.from_dict(
            {
                "name": "Products API",
                "url": "ftp://example.com/x",
                "format": "xml",
                "pagination": {"type": "page_number", "page_size": 0, "colour": "red"},
                "timeout_s": 0,
                "schedule": "every day",
            }
        )
    err = info.value
    assert isinstance(err, SourceConfigError)
    text = str(err)
    for expected in (
        "name: 'Products API' must be lower_snake_case",
        "dataset: required field is missing",
        "url: 'ftp://example.com/x' must be an absolute http:// or https:// URL",
        "format: Input should be 'json', 'ndjson' or 'csv'",
        "pagination.page_size: Input should be greater than or equal to 1",
        "pagination.colour: unknown field",
        "timeout_s: Input should be greater than 0",
        "schedule: 'every day' is not a 5-field cron expression",
    ):
        assert expected in text


def test_an_unknown_pagination_type_is_named() -> None:
    with pytest.raises(HttpPullConfigError, match="pagination: .*'scroll'"):
        HttpPullConfig.from_dict(_base(pagination={"type": "scroll"}))


def test_body_paths_need_the_json_format() -> None:
    with pytest.raises(HttpPullConfigError) as info:
        HttpPullConfig.from_dict(
            _base(
                format="csv", record_path="data", pagination={"type": "cursor", "cursor_path": "n"}
            )
        )
    assert "record_path: needs format json" in str(info.value)
    assert "pagination.cursor_path: needs format json" in str(info.value)


def test_a_secret_in_headers_or_url_is_refused_without_repeating_it() -> None:
    secret = "sk_live_abcdef123456"
    data = _base(
        url=f"https://user:{secret}@api.example.com/p",
        headers={"Authorization": f"Bearer {secret}", "X-Api-Key": secret},
    )
    with pytest.raises(HttpPullConfigError) as info:
        HttpPullConfig.from_dict(data)
    text = "".join(traceback.format_exception(info.value))
    assert "headers: 'Authorization', 'X-Api-Key': credentials do not belong in the config" in text
    assert "url: credentials in the URL are not allowed" in text
    assert secret not in text


def test_a_header_named_like_the_auth_header_is_refused() -> None:
    data = _base(auth={"token_env": "T", "header": "X-Token"}, headers={"x-token": "abc"})
    with pytest.raises(HttpPullConfigError, match="headers.x-token: credentials do not belong"):
        HttpPullConfig.from_dict(data)


def test_the_auth_token_env_must_be_a_variable_name_not_a_token() -> None:
    with pytest.raises(HttpPullConfigError, match="auth.token_env: must be the NAME"):
        HttpPullConfig.from_dict(_base(auth={"token_env": "Bearer abc.def-123"}))


def test_backoff_bounds_must_be_ordered() -> None:
    with pytest.raises(HttpPullConfigError, match="backoff_base_s: 5.0 is greater than"):
        HttpPullConfig.from_dict(_base(backoff_base_s=5, backoff_max_s=1))


def test_a_source_repr_shows_the_variable_name_only() -> None:
    source = HttpPullSource.from_dict(
        _base(auth={"token_env": "PRODUCTS_TOKEN"}), environ={"PRODUCTS_TOKEN": "s3cr3t"}
    )
    assert "PRODUCTS_TOKEN" in repr(source)
    assert "s3cr3t" not in repr(source) + repr(source.config)


def test_load_configs_reads_a_yaml_list_and_rejects_repeated_names(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - {name: a, dataset: d, url: 'http://127.0.0.1/a'}\n"
        "  - {name: b, dataset: d, url: 'http://127.0.0.1/b', format: ndjson}\n"
    )
    assert [c.name for c in load_configs(path)] == ["a", "b"]
    path.write_text(
        "sources:\n  - {name: a, dataset: d, url: 'http://x/a'}\n  - {name: a, dataset: d, url: 'http://x/b'}\n"
    )
    with pytest.raises(HttpPullConfigError, match="repeated source names a"):
        load_configs(path)


def test_the_readme_yaml_example_is_a_valid_config() -> None:
    import yaml

    text = README_EXAMPLE.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    [config] = [HttpPullConfig.from_dict(entry) for entry in yaml.safe_load(block)["sources"]]
    assert config.incremental is not None and config.incremental.cursor_field == "updated_at"
    assert config.pagination.type == "keyset" and config.incremental.id_field == "id"
