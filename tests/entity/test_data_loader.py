"""The entity-facade-xml loader: names, nesting, CDATA fields, type filter and upsert."""

from __future__ import annotations

from pathlib import Path

import pytest

from moqui_bridge.entity import EntityDefinitionError, EntityFacade, UnknownEntityError, UnknownFieldError
from moqui_bridge.entity.data_loader import load_files

SEED = """<?xml version="1.0" encoding="UTF-8"?>
<entity-facade-xml type="seed">
    <!-- a dotted (full) name with nested related records -->
    <moqui.basic.StatusType statusTypeId="Widget" description="Widget Status">
        <moqui.basic.StatusItem statusId="WgtNew" sequenceNum="1" description="New"/>
        <StatusItem statusId="WgtDone" sequenceNum="2">
            <description><![CDATA[Done <for> "good" & all]]></description>
        </StatusItem>
    </moqui.basic.StatusType>
    <!-- a short name, a relationship short-alias child and an empty attribute -->
    <EnumerationType enumTypeId="WidgetKind" description="">
        <enums enumId="WkSmall" description="Small"/>
    </EnumerationType>
    <mantle.order.OrderHeader orderId="O1" grandTotal="12.50" placedDate="2024-01-02 03:04:05">
        <mantle.order.OrderPart orderPartSeqId="01" partTotal="12.50"/>
    </mantle.order.OrderHeader>
</entity-facade-xml>
"""

DEMO = """<entity-facade-xml type="demo">
    <moqui.basic.Enumeration enumId="WkLarge" enumTypeId="WidgetKind" description="Large"/>
</entity-facade-xml>
"""

INSTALL = """<entity-facade-xml type="install">
    <moqui.basic.Enumeration enumId="WkHuge" enumTypeId="WidgetKind" description="Huge"/>
</entity-facade-xml>
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "a_seed.xml").write_text(SEED, encoding="utf-8")
    (tmp_path / "b_demo.xml").write_text(DEMO, encoding="utf-8")
    (tmp_path / "c_install.xml").write_text(INSTALL, encoding="utf-8")
    return tmp_path


async def test_loads_nested_dotted_short_and_cdata(entity_facade: EntityFacade, data_dir: Path) -> None:
    counts = await load_files(entity_facade, [data_dir / "a_seed.xml"])
    assert counts == {
        "moqui.basic.StatusType": 1,
        "moqui.basic.StatusItem": 2,
        "moqui.basic.EnumerationType": 1,
        "moqui.basic.Enumeration": 1,
        "mantle.order.OrderHeader": 1,
        "mantle.order.OrderPart": 1,
    }
    done = await entity_facade.find_one("StatusItem", {"statusId": "WgtDone"})
    assert done is not None
    assert done["statusTypeId"] == "Widget"  # filled from the parent's primary key
    assert done["description"] == 'Done <for> "good" & all'
    assert done["sequenceNum"] == 2
    kind = await entity_facade.find_one("EnumerationType", {"enumTypeId": "WidgetKind"})
    assert kind is not None and kind["description"] is None
    small = await entity_facade.find_one("Enumeration", {"enumId": "WkSmall"})
    assert small is not None and small["enumTypeId"] == "WidgetKind"
    part = await entity_facade.find_one("OrderPart", {"orderId": "O1", "orderPartSeqId": "01"})
    assert part is not None
    assert str(part["partTotal"]) == "12.5000"
    assert part["priority"] is None  # store does not invent defaults for fields the file leaves out


async def test_types_filter_and_folders(entity_facade: EntityFacade, data_dir: Path) -> None:
    counts = await load_files(entity_facade, [data_dir], types={"demo"})
    assert counts == {"moqui.basic.Enumeration": 1}
    assert await entity_facade.find_one("Enumeration", {"enumId": "WkSmall"}) is None
    await load_files(entity_facade, [data_dir])  # default: seed and demo
    assert await entity_facade.find_one("Enumeration", {"enumId": "WkHuge"}) is None
    everything = await load_files(entity_facade, [data_dir], types=None)
    assert everything["moqui.basic.Enumeration"] == 3
    assert await entity_facade.find_one("Enumeration", {"enumId": "WkHuge"}) is not None


async def test_load_is_an_upsert(entity_facade: EntityFacade, data_dir: Path) -> None:
    await load_files(entity_facade, [data_dir / "a_seed.xml"])
    await entity_facade.update("StatusItem", {"statusId": "WgtNew"}, {"description": "edited", "statusCode": "KEEP"})
    await load_files(entity_facade, [data_dir / "a_seed.xml"])
    item = await entity_facade.find_one("StatusItem", {"statusId": "WgtNew"})
    assert item is not None
    assert item["description"] == "New"  # fields in the file are written again
    assert item["statusCode"] == "KEEP"  # fields the file does not mention are left alone
    assert len(await entity_facade.find("StatusItem", {"statusTypeId": "Widget"})) == 2


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ('<NoSuchEntity a="1"/>', UnknownEntityError, "NoSuchEntity"),
        ('<moqui.basic.Enumeration enumId="X" bogus="1"/>', UnknownFieldError, "bogus"),
        (
            '<moqui.basic.StatusType statusTypeId="T"><nothing/></moqui.basic.StatusType>',
            EntityDefinitionError,
            "nothing",
        ),
    ],
)
async def test_bad_data_changes_nothing(
    entity_facade: EntityFacade, tmp_path: Path, body: str, error: type[Exception], message: str
) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(
        f'<entity-facade-xml type="seed"><moqui.basic.StatusType statusTypeId="Early"/>{body}</entity-facade-xml>'
    )
    with pytest.raises(error, match=message):
        await load_files(entity_facade, [path])
    assert await entity_facade.find_one("StatusType", {"statusTypeId": "Early"}) is None


async def test_not_a_data_file(entity_facade: EntityFacade, tmp_path: Path) -> None:
    path = tmp_path / "entities.xml"
    path.write_text("<entities/>")
    with pytest.raises(EntityDefinitionError, match="entity-facade-xml"):
        await load_files(entity_facade, [path])


async def test_project_seed_data_is_loaded(entity_facade: EntityFacade) -> None:
    operations = await entity_facade.find("Enumeration", {"enumTypeId": "PaymentOperation"})
    assert {"PgoAuthorize", "PgoCapture", "PgoAuthAndCapture", "PgoRefund", "PgoRelease", "PgoTxDetails"} <= {
        o["enumId"] for o in operations
    }
    stripe = await entity_facade.find_one("Enumeration", {"enumId": "PgtStripe"})
    assert stripe is not None and stripe["enumTypeId"] == "PaymentGatewayType"
    instrument = await entity_facade.find_one("Enumeration", {"enumId": "PiCreditCard"})
    assert instrument is not None and instrument["relatedEnumId"] == "PmtCreditCard"
    transitions = await entity_facade.find(
        "StatusFlowTransition", {"statusFlowId": "Default", "statusId": "PmntAuthorized"}, order_by=["toStatusId"]
    )
    assert [t["toStatusId"] for t in transitions] == [
        "PmntCancelled", "PmntDeclined", "PmntDelivered", "PmntPromised", "PmntVoid",
    ]  # fmt: skip
    statuses = await entity_facade.find("StatusItem", {"statusTypeId": "Payment"}, order_by=["sequenceNum"])
    assert [s["statusId"] for s in statuses][:3] == ["PmntProposed", "PmntPromised", "PmntAuthorized"]
