"""The fixtures give a working facade on a seeded database."""

from moqui_bridge.entity import EntityFacade


async def test_seeded_facade_reads_seed_and_creates(entity_facade: EntityFacade) -> None:
    operation = await entity_facade.find_one("moqui.basic.Enumeration", {"enumId": "PgoAuthorize"})
    assert operation is not None
    assert operation["enumTypeId"] == "PaymentOperation"
    created = await entity_facade.create("Payment", {"statusId": "PmntProposed"})
    assert created["paymentId"] == "100000"
