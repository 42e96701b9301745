"""The dbt project keeps its conventions: docs, lineage, key tests, layers (the lint: test_lint.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import spec_schema
from conftest import PROJECT


@pytest.fixture(scope="module")
def docs(built):
    """dbt docs generate against the built database: (manifest, catalog)."""
    built.dbt("docs", "generate", artifacts=True)
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    catalog = json.loads((built.target_path / "catalog.json").read_text())
    return manifest, catalog


def project_nodes(manifest: dict, resource_type: str) -> dict[str, dict]:
    return {
        key: node for key, node in manifest["nodes"].items()
        if node["resource_type"] == resource_type and node["package_name"] == "agent_analytics"
    }


def test_every_model_and_every_built_column_is_described(docs):
    manifest, catalog = docs
    for key, model in project_nodes(manifest, "model").items():
        assert model["description"].strip(), f"{key} has no description"
        built_columns = set(catalog["nodes"][key]["columns"])
        documented = {name for name, column in model["columns"].items() if column["description"].strip()}
        assert built_columns == documented, f"{key}: undocumented {built_columns - documented}, stale {documented - built_columns}"


def test_lineage_runs_from_the_sources_to_every_model(docs):
    manifest, _ = docs
    nodes = manifest["nodes"]

    def reaches_a_source(key: str) -> bool:
        depends = nodes[key]["depends_on"]["nodes"]
        return any(d.startswith("source.") for d in depends) or any(
            reaches_a_source(d) for d in depends if d in nodes and nodes[d]["resource_type"] == "model"
        )

    for key in project_nodes(manifest, "model"):
        assert reaches_a_source(key), f"{key} does not descend from a source"


def test_only_staging_reads_sources_and_staging_reads_nothing_downstream(docs):
    manifest, _ = docs
    for key, model in project_nodes(manifest, "model").items():
        layer = Path(model["original_file_path"]).parts[1]
        depends = model["depends_on"]["nodes"]
        if layer == "staging":
            assert all(d.startswith("source.") for d in depends), f"{key} depends on {depends}"
        else:
            assert not any(d.startswith("source.") for d in depends), f"{key} reads a source directly"
        assert model["name"].startswith({"staging": "stg_", "intermediate": "int_"}.get(layer, "")), key


def test_every_model_has_a_key_test(docs):
    manifest, _ = docs
    tests = project_nodes(manifest, "test")
    keyed = set()
    for test in tests.values():
        name = test.get("test_metadata", {}).get("name")
        if name in {"unique", "unique_combination_of_columns"}:
            keyed.update(test["depends_on"]["nodes"])
    for key in project_nodes(manifest, "model"):
        assert key in keyed, f"{key} has no unique key test"


def test_sources_that_grow_have_freshness(docs):
    manifest, _ = docs
    for name in ("source.agent_analytics.app.agent_runs", "source.agent_analytics.analytics.user_activity",
                 "source.agent_analytics.analytics.user_activity_recent"):
        source = manifest["sources"][name]
        assert source["loaded_at_field"] and source["freshness"]["error_after"]["count"], name


def test_every_source_and_source_column_is_described_in_words(docs):
    """Descriptions taken from doc blocks (_staging__docs.md) arrive rendered."""
    manifest, _ = docs
    for key, source in manifest["sources"].items():
        if source["package_name"] != "agent_analytics":
            continue
        assert source["description"].strip(), f"{key} has no description"
        for name, column in source["columns"].items():
            text = column["description"].strip()
            assert text and "{{" not in text and "doc(" not in text, f"{key}.{name}: {text!r}"


def test_every_incremental_model_follows_the_grain_contract(docs):
    """docs/incremental.md: a grain opens with incremental_grain, which puts the protocol's hooks
    around the model's own; the only other incremental model says it recomputes everything."""
    manifest, _ = docs
    incremental = {
        key: model for key, model in project_nodes(manifest, "model").items()
        if model["config"]["materialized"] == "incremental"
    }
    assert len(incremental) >= 10
    for key, model in incremental.items():
        meta, code = model["config"]["meta"], model["raw_code"]
        hooks = [hook["sql"] for hook in model["config"]["post-hook"]]
        assert model["config"]["incremental_strategy"] == "upsert_changed", key
        if meta.get("recomputes_everything"):
            assert "incremental_grain" not in meta and "is_incremental()" not in code, key
            assert "record_watermarks" not in " ".join(hooks), key
            continue
        grain = meta.get("incremental_grain")
        assert grain, f"{key}: an incremental model opens with incremental_grain (docs/incremental.md)"
        assert code.lstrip().startswith("{{\n    incremental_grain("), key
        assert not re.search(r"\bconfig\(|note_read_start|record_watermarks|drop_swapped_out_backup|depends_on", code), (
            f"{key} repeats by hand what incremental_grain does"
        )
        assert hooks[0] == "{{ drop_swapped_out_backup() }}" and hooks[-1] == "{{ record_watermarks() }}", key
        arrival_models = {"events": "stg_analytics__user_activity", "runs": "stg_app__agent_runs"}
        read = {dependency.split(".")[-1] for dependency in model["depends_on"]["nodes"]}
        assert {arrival_models[kind] for kind in grain["takes_in"]} | {"stg_analytics__deleted_activity"} <= read, key
        if grain["tested_since"]:
            columns = {name.lower() for name in model["columns"]}
            assert grain["tested_since"] in columns, f"{key}: tested_since names no documented column"


def test_every_api_rollup_enforces_a_contract_with_the_spec_columns_and_types(docs):
    """docs/incremental.md, "The API tables' contract": the incremental marts that members read
    declare every column's name and type, in the spec's order, and dbt enforces them."""
    manifest, _ = docs
    rollups = {
        model["name"]: model for model in project_nodes(manifest, "model").values()
        if model["config"]["materialized"] == "incremental" and model["original_file_path"].startswith("models/marts/")
    }
    assert set(rollups) == {"daily_metrics", "hourly_metrics", "agent_performance", "user_cohorts",
                            "model_usage_daily", "event_usage_daily", "active_users_daily"}
    for name, model in rollups.items():
        assert model["config"]["contract"]["enforced"] and model["contract"]["enforced"], name
        assert model["config"]["on_schema_change"] == "fail", name
        if name not in spec_schema.COLUMNS:  # ours, beyond the spec (docs/bi.md): declared, not the spec's
            continue
        declared = [(column["name"], column["data_type"]) for column in model["columns"].values()]
        assert declared == [(column, data_type) for column, data_type, *_ in spec_schema.COLUMNS[name]], name


def test_the_dashboard_exposure_lists_every_relation_the_dashboard_queries_read(docs):
    manifest, _ = docs
    queries = (PROJECT / "src" / "agent_analytics" / "sql" / "dashboard_queries.sql").read_text()
    # a live function reads its rollup; a member function of a view, the view
    read = {re.sub(r"^member_", "mv_", re.sub(r"^(member_)?live_", "", name))
            for name in re.findall(r"\{schema\}\.(\w+)", queries)}
    exposure = manifest["exposures"]["exposure.agent_analytics.dashboard_queries"]
    listed = {dependency.split(".")[-1] for dependency in exposure["depends_on"]["nodes"]}
    assert read == listed, f"the queries read {sorted(read - listed)} unlisted; listed but unread: {sorted(listed - read)}"
    functions = manifest["exposures"]["exposure.agent_analytics.member_functions"]
    assert {dependency.split(".")[-1] for dependency in functions["depends_on"]["nodes"]} == {
        name for name in listed if name.startswith("mv_")
    }


def test_models_name_no_relation_by_hand():
    for path in (PROJECT / "models").rglob("*.sql"):
        text = path.read_text()
        assert not re.search(r"\b(public|analytics)\.\w+", text), f"{path} hard-codes a relation"


def test_the_example_profile_takes_every_connection_secret_from_the_environment():
    text = (PROJECT / "profiles.yml.example").read_text(encoding="utf-8")
    passwords = re.findall(r"^\s*password:\s*(.+)$", text, flags=re.MULTILINE)
    assert passwords, "the example profile names no password field"
    for value in passwords:
        assert re.fullmatch(r"""["']\{\{ env_var\('PGPASSWORD'(, '')?\) \}\}["']""", value.strip()), value


# The semantic layer (docs/semantic-layer.md): what dbt validated and wrote beside the manifest.
MAIN_METRICS = {
    "daily_active_users", "average_daily_active_users", "runs", "successful_runs", "failed_runs",
    "run_success_rate", "credits_consumed", "errors", "week_1_retention",
}


@pytest.fixture(scope="module")
def semantic_manifest(built, docs) -> dict:
    """target/semantic_manifest.json, written by dbt once its semantic validation passed."""
    return json.loads((built.target_path / "semantic_manifest.json").read_text())


def test_the_semantic_layer_defines_the_main_metrics_for_the_platform_and_per_workspace(semantic_manifest):
    metrics = {metric["name"]: metric for metric in semantic_manifest["metrics"]}
    assert MAIN_METRICS <= set(metrics)
    assert {f"workspace_{name}" for name in MAIN_METRICS} <= set(metrics)
    assert metrics["run_success_rate"]["type"] == "ratio"
    spines = semantic_manifest["project_configuration"]["time_spines"]
    assert [(spine["node_relation"]["alias"], spine["primary_column"]["time_granularity"]) for spine in spines] == [
        ("metricflow_time_spine", "day")
    ]


def test_no_semantic_measure_adds_the_platform_row_to_the_workspace_rows(semantic_manifest):
    """docs/metrics.md, "Rows per bucket": the platform row counts what the workspace rows count
    (and more): a measure reads one or the other, never both."""
    for model in semantic_manifest["semantic_models"]:
        scope = model["name"].split("_")[0]
        assert scope in {"platform", "workspace"}, model["name"]
        for measure in model["measures"]:
            assert measure["name"].startswith(f"{scope}_"), measure["name"]
            condition = "workspace_id is null" if scope == "platform" else "workspace_id is not null"
            assert (measure["expr"] or "").startswith(f"case when {condition}"), measure["name"]
        active = [measure for measure in model["measures"] if measure["name"].endswith("_active_users")]
        for measure in active:  # users are not additive across days
            assert measure["non_additive_dimension"]["name"] == model["defaults"]["agg_time_dimension"]


def test_every_semantic_measure_runs_on_the_built_tables_and_counts_what_the_rollups_count(built, semantic_manifest):
    """What MetricFlow's warehouse validation checks (every expression is valid SQL on its
    table), and that the platform and workspace measures add up to the rollups' own sums."""
    aggregates = {"sum": "sum", "average": "avg", "max": "max", "min": "min", "count": "count"}
    values = {}
    for model in semantic_manifest["semantic_models"]:
        relation = model["node_relation"]["relation_name"]
        for measure in model["measures"]:
            values[measure["name"]] = built.value(
                f"select {aggregates[measure['agg']]}({measure['expr']}) from {relation}"
            )
    sums = dict(zip(
        ("platform", "workspace"),
        built.rows(
            "select sum(total_runs), sum(successful_runs), sum(total_credits_consumed), sum(total_errors) "
            "from analytics.daily_metrics group by workspace_id is null order by workspace_id is null desc"
        ),
    ))
    for scope, (runs, successful, credits, errors) in sums.items():
        assert (values[f"{scope}_runs"], values[f"{scope}_successful_runs"]) == (runs, successful)
        assert (values[f"{scope}_credits"], values[f"{scope}_errors"]) == (credits, errors)
    assert values["platform_runs"] > 0
    for scope in ("platform", "workspace"):  # no cohort has a complete week 1 in under two weeks of data
        cohort, retained = values[f"{scope}_week_1_cohort_users"] or 0, values[f"{scope}_week_1_retained_users"] or 0
        assert 0 <= retained <= cohort


def test_the_time_spine_holds_every_day_of_the_rollups_once(built):
    missing, spine_days, distinct_days = built.rows(
        """
        select
            (select count(*) from analytics.daily_metrics as d
             where not exists (
                 select from analytics_internal.metricflow_time_spine as s where s.date_day = d.metric_date
             )),
            (select count(*) from analytics_internal.metricflow_time_spine),
            (select count(distinct date_day) from analytics_internal.metricflow_time_spine)
        """
    )[0]
    assert missing == 0 and spine_days == distinct_days > 0


def test_every_unit_test_runs_and_passes(built, docs):
    """The unit tests of the models' SQL (models/*/_*__unit_tests.yml), which the scheduled build
    and the session's builds leave out: each of them runs, and passes (a failure exits dbt
    non-zero)."""
    manifest, _ = docs
    defined = [test for test in manifest["unit_tests"].values() if test["package_name"] == "agent_analytics"]
    built.dbt("test", "--select", "test_type:unit", artifacts=True)
    results = json.loads((built.target_path / "run_results.json").read_text())["results"]
    ran = {result["unique_id"]: result["status"] for result in results if result["unique_id"].startswith("unit_test.")}
    assert len(defined) >= 6
    assert ran == {test["unique_id"]: "pass" for test in defined}
