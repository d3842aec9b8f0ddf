"""The Nova Poshta API 2.0 emulator (specs/delivery/novaposhta/, research/shop_delivery_loyalty.md
§4.2).

One endpoint, ``POST /v2.0/json/`` (also ``/v2.0/json/{model}/{method}``), takes ``{apiKey,
modelName, calledMethod, methodProperties}`` and always answers HTTP 200 with the envelope
``{success, data, errors, warnings, info, messageCodes, errorCodes, warningCodes, infoCodes}``;
failures are carried in the envelope. ``InternetDocument.save`` creates a waybill
(``IntDocNumber``); ``TrackingDocument.getStatusDocuments`` answers up to 100 documents in the
shape of getStatusDocuments.response.json: personal fields only when the phone matches (else a
warning), a malformed number fails the call as getStatusDocuments.error.invalid-number.json, an
unknown well-formed number answers StatusCode 3 "Номер не знайдено". There is no push API: clients
poll.
"""

from __future__ import annotations

import json
import re
import threading
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from connector_sandbox.common import control_blueprint, new_uuid
from connector_sandbox.faults import FaultInjector

DEFAULTS: dict[str, Any] = {"api_key": "0123456789abcdef0123456789abcdef"}
TRACK_LIMIT = 100
NUMBER = re.compile(r"^(1|2|5)\d{13}$")
STATUS_TEXT: dict[int, str] = {
    1: "Відправник самостійно створив цю накладну, але ще не надав до відправки",
    2: "Видалено",
    3: "Номер не знайдено",
    4: "Відправлення у місті відправника",
    41: "Відправлення у місті відправника (місцеві відправлення)",
    5: "Відправлення прямує до міста одержувача",
    6: "Відправлення у місті одержувача, орієнтовна доставка до відділення",
    7: "Прибув на відділення",
    8: "Прибув на відділення (завантажено в поштомат)",
    9: "Відправлення отримано",
    10: "Відправлення отримано, грошовий переказ буде видано одержувачу",
    11: "Відправлення отримано, грошовий переказ видано одержувачу",
    12: "Нова Пошта комплектує ваше відправлення",
    101: "На шляху до одержувача",
    102: "Відмова від отримання (Відправником створено замовлення на повернення)",
    103: "Відмова одержувача (отримувач відмовився від відправлення)",
    104: "Змінено адресу",
    105: "Припинено зберігання",
    106: "Одержано і створено ЄН зворотньої доставки",
    108: "Відмова одержувача (відправлення повертається відправнику)",
    111: "Невдала спроба доставки через відсутність Одержувача на адресі або зв'язку з ним",
    112: "Дата доставки перенесена Одержувачем",
}
PERSONAL = (
    "RecipientFullName",
    "RecipientFullNameEW",
    "PhoneRecipient",
    "PhoneSender",
    "SenderFullNameEW",
    "RecipientAddress",
    "SenderAddress",
    "CounterpartyRecipientDescription",
    "CounterpartySenderDescription",
    "CargoDescriptionString",
)
# every key of a tracked document (specs/delivery/novaposhta/getStatusDocuments.response.json)
TRACKED_TEMPLATE: dict[str, Any] = {
    "CounterpartyRecipientDescription": "", "DocumentWeight": 0.5,
    "ServiceType": "WarehouseWarehouse",
    "UndeliveryReasons": "", "RecipientFullName": "", "FactualWeight": "0.50",
    "MarketplacePartnerToken": "", "InternationalDeliveryType": "", "CargoType": "Parcel",
    "PayerType": "Recipient", "SeatsAmount": "1", "PhoneRecipient": "", "ScheduledDeliveryDate": "",
    "DocumentCost": "70", "CardMaskedNumber": "", "OwnerDocumentType": "",
    "ExpressWaybillPaymentStatus": "", "ExpressWaybillAmountToPay": "",
    "AfterpaymentOnGoodsCost": "", "SumBeforeCheckWeight": 0, "CheckWeight": 0,
    "PaymentMethod": "Cash", "AdjustedDate": "", "Number": "", "TrackingUpdateDate": "",
    "CalculatedWeight": "", "WarehouseRecipient": "", "WarehouseSender": "", "DateCreated": "",
    "DateScan": "", "DateMoving": "", "DateFirstDayStorage": "", "DatePayedKeeping": "",
    "RecipientAddress": "", "RecipientDateTime": "", "RecipientFullNameEW": "",
    "RefCityRecipient": "", "RefCitySender": "", "RefSettlementRecipient": "",
    "RefSettlementSender": "", "ClientBarcode": "", "CitySender": "", "CityRecipient": "",
    "CargoDescriptionString": "", "AnnouncedPrice": "", "AdditionalInformationEW": "",
    "ActualDeliveryDate": "", "StatusCode": "", "PostomatV3CellReservationNumber": False,
    "AmountToPay": "", "AmountPaid": "", "RefEW": "", "VolumeWeight": "0.5",
    "CheckWeightMethod": "", "OwnerDocumentNumber": "", "LastCreatedOnTheBasisNumber": "",
    "LastCreatedOnTheBasisDateTime": "", "LastTransactionDateTimeGM": "", "PaymentStatus": "",
    "PaymentStatusDate": "", "LastAmountTransferGM": "", "LastAmountReceivedCommissionGM": 0,
    "LastCreatedOnTheBasisPayerType": "", "DeliveryTimeframe": "", "LastTransactionStatusGM": "",
    "Status": "", "Redelivery": 0, "RedeliveryNum": "", "RedeliverySum": "", "RedeliveryPayer": "",
    "UndeliveryReasonsDate": "", "UndeliveryReasonsSubtypeDescription": "",
    "RecipientWarehouseTypeRef": "", "WarehouseRecipientInternetAddressRef": "",
    "WarehouseRecipientNumber": 1, "WarehouseRecipientRef": "", "CategoryOfWarehouse": "Branch",
    "WarehouseRecipientAddress": "", "WarehouseSenderInternetAddressRef": "",
    "WarehouseSenderAddress": "", "CounterpartyType": "PrivatePerson",
    "CounterpartySenderType": "PrivatePerson", "AviaDelivery": 0, "BarcodeRedBox": "",
    "CargoReturnRefusal": False, "DaysStorageCargo": "", "Packaging": [], "PartialReturnGoods": [],
    "SecurePayment": False, "StorageAmount": "", "StoragePrice": "",
    "PossibilityCreateRedirecting": False, "PossibilityCreateReturn": False,
    "PossibilityCreateRefusal": False, "PossibilityChangeEW": False,
    "PossibilityChangeCash2Card": False, "PossibilityChangeDeliveryIntervals": False,
    "CounterpartySenderDescription": "", "CreatedOnTheBasis": "", "FreeShipping": "",
    "InternetDocumentDescription": "", "LastCreatedOnTheBasisDocumentType": "",
    "LoyaltyCardRecipient": "", "LoyaltyCardSender": "", "PhoneSender": "",
    "RedeliveryPaymentCardDescription": "", "RedeliveryServiceCost": "", "SenderAddress": "",
    "SenderFullNameEW": "", "RedeliveryPaymentCardRef": "",
}  # fmt: skip


def envelope(data: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "data": data or []}
    for name in ("errors", "warnings", "info", "messageCodes", "errorCodes", "warningCodes"):
        body[name] = fields.get(name, [])
    body["infoCodes"] = fields.get("infoCodes", [])
    if fields.get("errors"):
        body["success"] = False
    return body


class NovaPoshtaState:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.documents: dict[str, dict[str, Any]] = {}
            self._next = 20450000000000

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"documents": deepcopy(self.documents)}

    def create(self, props: dict[str, Any], number: str | None = None) -> dict[str, Any]:
        with self.lock:
            if number is None:
                self._next += 1
                number = str(self._next)
            now = _kyiv()
            phone = _digits(props.get("RecipientsPhone") or props.get("Phone") or "")
            document = {
                "number": number,
                "ref": new_uuid(),
                "phone": phone,
                "sender_phone": _digits(props.get("SendersPhone") or ""),
                "recipient_name": props.get("RecipientName")
                or props.get("RecipientFullName")
                or "Одержувач Тестовий",
                "city_recipient": props.get("CityRecipientName") or "Київ",
                "city_sender": props.get("CitySenderName") or "Київ",
                "weight": float(props.get("Weight") or 0.5),
                "cost": str(props.get("Cost") or "0"),
                "description": props.get("Description") or "",
                "service_type": props.get("ServiceType") or "WarehouseWarehouse",
                "payer_type": props.get("PayerType") or "Recipient",
                "payment_method": props.get("PaymentMethod") or "Cash",
                "created": now,
                "status_code": 1,
                "status_changed": now,
                "delivered": None,
                "history": [{"code": 1, "at": now.isoformat()}],
            }
            self.documents[number] = document
            return document

    def move(self, number: str, code: int) -> dict[str, Any]:
        with self.lock:
            document = self.documents[number]
            now = _kyiv()
            document["status_code"] = code
            document["status_changed"] = now
            if code in (9, 10, 11, 106):
                document["delivered"] = now
            document["history"].append({"code": code, "at": now.isoformat()})
            return document


def tracked_view(document: dict[str, Any], phone: str) -> tuple[dict[str, Any], bool]:
    """One ``data`` item; the bool says whether the phone unlocked the personal fields."""
    code = document["status_code"]
    created, changed = document["created"], document["status_changed"]
    delivered = document["delivered"]
    scheduled = created + timedelta(days=2)
    item = dict(TRACKED_TEMPLATE) | {
        "Number": document["number"],
        "StatusCode": str(code),
        "Status": STATUS_TEXT.get(code, ""),
        "RefEW": document["ref"],
        "DateCreated": created.strftime("%d-%m-%Y %H:%M:%S"),
        "ScheduledDeliveryDate": scheduled.strftime("%d-%m-%Y %H:%M:%S"),
        "AdjustedDate": scheduled.strftime("%Y-%m-%d %H:%M:%S"),
        "TrackingUpdateDate": changed.strftime("%Y-%m-%d %H:%M:%S"),
        "DateScan": changed.strftime("%H:%M %d.%m.%Y"),
        "ActualDeliveryDate": delivered.strftime("%Y-%m-%d %H:%M:%S") if delivered else "",
        "RecipientDateTime": delivered.strftime("%d.%m.%Y %H:%M:%S") if delivered else "",
        "CityRecipient": document["city_recipient"],
        "CitySender": document["city_sender"],
        "DocumentWeight": document["weight"],
        "FactualWeight": f"{document['weight']:.2f}",
        "VolumeWeight": str(document["weight"]),
        "ServiceType": document["service_type"],
        "PayerType": document["payer_type"],
        "PaymentMethod": document["payment_method"],
        "AnnouncedPrice": document["cost"],
        "WarehouseRecipient": "Відділення №1",
        "WarehouseSender": "Відділення №1",
    }
    unlocked = bool(phone) and _digits(phone) in (document["phone"], document["sender_phone"])
    if unlocked:
        item |= {
            "RecipientFullName": document["recipient_name"],
            "RecipientFullNameEW": document["recipient_name"],
            "PhoneRecipient": document["phone"],
            "PhoneSender": document["sender_phone"],
            "CargoDescriptionString": document["description"],
            "CounterpartyRecipientDescription": "Приватна особа",
        }
    return item, unlocked


def not_found_view(number: str) -> dict[str, Any]:
    return {k: ("" if isinstance(v, str) else v) for k, v in TRACKED_TEMPLATE.items()} | {
        "Number": number,
        "StatusCode": "3",
        "Status": STATUS_TEXT[3],
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DEFAULTS | dict(config or {})
    app = Flask("connector_sandbox.novaposhta")
    app.config["SANDBOX"] = settings
    state = NovaPoshtaState(settings)
    app.extensions["novaposhta"] = state

    def answer(body: dict[str, Any]) -> Response:
        return Response(json.dumps(body), 200, mimetype="application/json")

    @app.post("/v2.0/json/")
    @app.post("/v2.0/json")
    @app.post("/v2.0/json/<model>/<method>")
    def call(model: str | None = None, method: str | None = None) -> Response:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return answer(envelope(errors=["Data is not valid"], errorCodes=["20000100013"]))
        if not isinstance(body, dict):
            return answer(envelope(errors=["Data is not valid"], errorCodes=["20000100013"]))
        if body.get("apiKey") != settings["api_key"]:
            return answer(envelope(errors=["API key expired"], errorCodes=["20000200039"]))
        model = body.get("modelName") or model or ""
        method = body.get("calledMethod") or method or ""
        props = body.get("methodProperties") or {}
        if (model, method) == ("TrackingDocument", "getStatusDocuments"):
            return answer(track(props.get("Documents") or []))
        if (model, method) in (("InternetDocument", "save"), ("InternetDocumentGeneral", "save")):
            return answer(save(props))
        if (model, method) == ("InternetDocument", "delete"):
            refs = props.get("DocumentRefs") or []
            refs = refs if isinstance(refs, list) else [refs]
            with state.lock:
                for document in state.documents.values():
                    if document["ref"] in refs:
                        state.move(document["number"], 2)
            return answer(envelope([{"Ref": ref} for ref in refs]))
        return answer(
            envelope(
                errors=[f"Method {method} of model {model} not found"], errorCodes=["20000900746"]
            )
        )

    def track(documents: list[dict[str, Any]]) -> dict[str, Any]:
        if len(documents) > TRACK_LIMIT:
            return envelope(
                errors=[f"Documents count more than {TRACK_LIMIT}"], errorCodes=["20001401443"]
            )
        invalid = [
            d.get("DocumentNumber", "")
            for d in documents
            if not NUMBER.match(str(d.get("DocumentNumber", "")))
        ]
        if invalid:
            return envelope(
                errors=["Document number is not correct"],
                warnings=[f"Invalid DocumentNumber: {n}" for n in invalid],
                errorCodes=["20001401442"],
            )
        data, warnings = [], []
        with state.lock:
            for entry in documents:
                number = str(entry["DocumentNumber"])
                document = state.documents.get(number)
                if document is None:
                    data.append(not_found_view(number))
                    continue
                item, unlocked = tracked_view(document, str(entry.get("Phone") or ""))
                data.append(item)
                if not unlocked:
                    warnings.append(
                        {
                            f"ID_{number}": "Please enter a valid phone number from the express "
                            "invoice to show full information"
                        }
                    )
        return envelope(data, warnings=warnings)

    def save(props: dict[str, Any]) -> dict[str, Any]:
        missing = [name for name in ("Weight", "Cost", "Description") if not props.get(name)]
        if missing:
            return envelope(
                errors=[f"{name} is empty" for name in missing],
                errorCodes=["20000400000"] * len(missing),
            )
        document = state.create(props)
        delivery = (document["created"] + timedelta(days=2)).strftime("%d.%m.%Y")
        return envelope(
            [
                {
                    "Ref": document["ref"],
                    "CostOnSite": 70,
                    "EstimatedDeliveryDate": delivery,
                    "IntDocNumber": document["number"],
                    "TypeDocument": "InternetDocument",
                }
            ]
        )

    control = Blueprint("novaposhta_sandbox", __name__, url_prefix="/_sandbox")

    @control.post("/parcels")
    def parcel_create() -> Response:
        """A waybill made outside the API (the shop's own office): ``{number?, phone, ...}``."""
        body = request.get_json(silent=True) or {}
        number = body.get("number")
        if number is not None and not NUMBER.match(str(number)):
            return jsonify({"error": "number must be 14 digits starting with 1, 2 or 5"}), 400  # type: ignore[return-value]
        props = {
            "RecipientsPhone": body.get("phone", ""),
            "RecipientName": body.get("recipient_name"),
            "Cost": body.get("cost", "100"),
            "Weight": body.get("weight", 0.5),
            "Description": body.get("description", ""),
        }
        document = state.create(props, str(number) if number else None)
        if body.get("status_code"):
            state.move(document["number"], int(body["status_code"]))
        return jsonify(_plain(document)), 201  # type: ignore[return-value]

    @control.post("/parcels/<number>/status")
    def parcel_move(number: str) -> Response:
        """``{"status_code": 9}`` or ``{"status_codes": [4, 5, 6, 7, 9]}``."""
        body = request.get_json(silent=True) or {}
        codes = body.get("status_codes") or [body.get("status_code")]
        with state.lock:
            if number not in state.documents:
                return jsonify({"error": "unknown waybill"}), 404  # type: ignore[return-value]
            for code in codes:
                if int(code) not in STATUS_TEXT:
                    return jsonify({"error": f"unknown StatusCode {code}"}), 400  # type: ignore[return-value]
                document = state.move(number, int(code))
            return jsonify(_plain(document))

    app.register_blueprint(control)
    app.register_blueprint(control_blueprint(state), name="sandbox_base")
    FaultInjector(app, _fault_body)
    return app


def _plain(document: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(document, default=str))


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", str(phone))


def _kyiv() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=2)).replace(tzinfo=None, microsecond=0)


def _fault_body(status: int) -> tuple[str, bytes]:
    return "text/html", f"<html><body><h1>{status}</h1>nginx</body></html>".encode()
