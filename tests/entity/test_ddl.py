"""Standalone DDL: Moqui's table shape, idempotence and creating only chosen entities."""

from __future__ import annotations

from moqui_bridge.entity import EntityDefinition, EntityRegistry
from moqui_bridge.entity.connection import Pool
from moqui_bridge.entity.ddl import (
    create_table_sql,
    create_tables,
    foreign_key_index_name,
    foreign_key_indexes_sql,
    primary_key_constraint_name,
)


def test_create_table_statement_shape(entity_registry: EntityRegistry) -> None:
    statement = create_table_sql(entity_registry.get("moqui.basic.StatusFlowTransition"))
    assert statement == (
        "CREATE TABLE IF NOT EXISTS STATUS_FLOW_TRANSITION (STATUS_FLOW_ID VARCHAR(40) NOT NULL, "
        "STATUS_ID VARCHAR(40) NOT NULL, TO_STATUS_ID VARCHAR(40) NOT NULL, TRANSITION_SEQUENCE NUMERIC(20,0), "
        "TRANSITION_NAME TEXT, CONDITION_EXPRESSION TEXT, USER_PERMISSION_ID VARCHAR(255), "
        "LAST_UPDATED_STAMP TIMESTAMP, "
        "CONSTRAINT PK_STATUS_FLOW_TRANSITION PRIMARY KEY (STATUS_FLOW_ID, STATUS_ID, TO_STATUS_ID))"
    )


def test_primary_key_constraint_is_clipped_to_60(entity_registry: EntityRegistry) -> None:
    definition = entity_registry.get("PaymentGatewayResponse")
    long_table = EntityDefinition(package="x", entity_name="Long", table_name="T" * 70, fields=definition.fields)
    assert primary_key_constraint_name(long_table) == "PK_" + "T" * 57
    assert primary_key_constraint_name(definition) == "PK_PAYMENT_GATEWAY_RESPONSE"


def test_foreign_key_indexes_follow_moqui_fk_auto_indexes(entity_registry: EntityRegistry) -> None:
    # Moqui indexes the fields of `one` relationships (EntityDbMeta.createIndexes, "do fk auto indexes"); a
    # relationship whose fields lead the primary key (OrderPart -> OrderHeader) is served by it already.
    order_part = foreign_key_indexes_sql(entity_registry.get("mantle.order.OrderPart"), entity_registry)
    assert not any("(ORDER_ID)" in statement for statement in order_part)
    assert (
        "CREATE INDEX IF NOT EXISTS IDX_PAYMENT_GATEWAY_RESPONSE_PAYMENT_ID ON PAYMENT_GATEWAY_RESPONSE (PAYMENT_ID)"
        in foreign_key_indexes_sql(entity_registry.get("PaymentGatewayResponse"), entity_registry)
    )
    long_table = EntityDefinition(
        package="x", entity_name="Long", table_name="T" * 70, fields=entity_registry.get("Payment").fields
    )
    name = foreign_key_index_name(long_table, ["A_ID"])
    assert len(name) == 60 and name.startswith("IDX_TTT") and name != foreign_key_index_name(long_table, ["B_ID"])


async def _columns(pool: Pool, table: str) -> dict[str, tuple[str, str, int | None, int | None, int | None]]:
    rows = await pool.fetch(
        "SELECT column_name, is_nullable, data_type, character_maximum_length, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE table_name = $1",
        table,
    )
    return {
        r["column_name"]: (
            r["is_nullable"],
            r["data_type"],
            r["character_maximum_length"] or r["numeric_precision"],
            r["numeric_scale"],
            None,
        )
        for r in rows
    }


async def test_tables_match_moqui_names_and_types(sample_pool: Pool, entity_registry: EntityRegistry) -> None:
    tables = await create_tables(sample_pool, entity_registry, ["PaymentGatewayResponse", "moqui.basic.Enumeration"])
    assert tables == ["PAYMENT_GATEWAY_RESPONSE", "ENUMERATION"]
    columns = await _columns(sample_pool, "payment_gateway_response")
    assert columns["payment_gateway_response_id"][:3] == ("NO", "character varying", 40)
    assert columns["amount"][:4] == ("YES", "numeric", 24, 4)
    assert columns["reference_num"][:3] == ("YES", "character varying", 63)
    assert columns["reason_message"][:2] == ("YES", "text")
    assert columns["result_success"][:3] == ("YES", "character", 1)
    assert columns["transaction_date"][:2] == ("YES", "timestamp without time zone")
    assert columns["last_updated_stamp"][:2] == ("YES", "timestamp without time zone")
    assert len(columns) == len(entity_registry.get("PaymentGatewayResponse").fields)
    constraint = await sample_pool.fetchval(
        "SELECT constraint_name FROM information_schema.table_constraints"
        " WHERE table_name = 'payment_gateway_response' AND constraint_type = 'PRIMARY KEY'"
    )
    assert constraint == "pk_payment_gateway_response"
    indexes = await sample_pool.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'payment_gateway_response'")
    # The declared index, and Moqui's fk auto index on each `one` relationship (EntityDbMeta.createIndexes).
    assert {r["indexname"] for r in indexes} == {
        "pk_payment_gateway_response",
        "pmt_gtwr_refnum",
        "idx_payment_gateway_response_payment_id",
        "idx_payment_gateway_response_payment_method_id",
        "idx_payment_gateway_response_payment_gateway_config_id",
        "idx_payment_gateway_response_payment_operation_enum_id",
        "idx_payment_gateway_response_amount_uom_id",
    }
    # only the chosen entities exist
    table_names = await sample_pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
    )
    assert [r["table_name"] for r in table_names] == ["enumeration", "payment_gateway_response"]


async def test_ddl_is_idempotent_and_adds_new_columns(
    sample_pool: Pool, entity_registry: EntityRegistry, sample_registry: EntityRegistry
) -> None:
    await create_tables(sample_pool, entity_registry)
    await sample_pool.execute("INSERT INTO ENUMERATION (ENUM_ID, DESCRIPTION) VALUES ('Keep', 'kept')")
    # an older version of a table without some columns gains them; data stays
    await sample_pool.execute("ALTER TABLE ENUMERATION DROP COLUMN OPTION_VALUE")
    await create_tables(sample_pool, entity_registry)
    await create_tables(sample_pool, sample_registry)
    assert await sample_pool.fetchval("SELECT DESCRIPTION FROM ENUMERATION WHERE ENUM_ID = 'Keep'") == "kept"
    assert "option_value" in await _columns(sample_pool, "enumeration")
    unique = await sample_pool.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'sample_short_idx'")
    assert unique.startswith("CREATE UNIQUE INDEX sample_short_idx ON public.all_types_sample")
