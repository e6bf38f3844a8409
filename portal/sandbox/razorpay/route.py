"""Razorpay Route in the stand-in: linked accounts and their Route product, transfers from captured
payments with settlement holds, reversals and settlements, with Razorpay's rules, id formats and
error messages (razorpay.com/docs/api/payments/route and webhooks/route).

- ``POST /v2/accounts`` makes a linked account (``acc_``); ``POST .../products`` requests the
  Route product (``acc_prd_``, ``needs_clarification`` until the bank details come) and ``PATCH
  .../products/<id>`` with ``settlements`` activates it (``product.route.activated``).
- ``POST /v1/payments/<id>/transfers`` moves part of a captured payment to activated linked
  accounts (``trf_``). A transfer is ``pending`` when made (the answer says so, as documented)
  and ``processed`` at once with the ``auto_process_transfers`` setting (the default;
  ``transfer.processed``), else when /_sandbox/transfers/<id>/status says (``processed`` or
  ``failed``, ``transfer.failed``).
- ``on_hold`` keeps a processed transfer out of settlements (``settlement_status`` ``on_hold``);
  ``PATCH /v1/transfers/<id>`` with ``on_hold: false`` releases it (``pending``).
- ``POST /v1/transfers/<id>/reversals`` (``rvrsl_``) takes part or all of a processed transfer
  back (``partially_reversed`` / ``reversed``); Razorpay sends no webhook for it.
- /_sandbox/settlements/run settles every released transfer per linked account: a settlement
  (``setl_``), the transfers' ``recipient_settlement_id`` and ``settlement_status: settled``,
  and ``settlement.processed`` whose envelope's ``account_id`` is the linked account's.

Not simulated: stakeholders and KYC documents, transfers on orders (``POST /v1/orders`` with
``transfers``), direct transfers (``POST /v1/transfers``), ``on_hold_until`` coming due,
``reverse_all`` on refunds, settlement schedules and linked-account balances.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping
from typing import Any

from portal.sandbox.razorpay import entities
from portal.sandbox.razorpay.errors import ApiError, not_found, validation
from portal.sandbox.razorpay.ledger import (
    CURRENCIES,
    LIST_PARAMS,
    MIN_AMOUNT,
    Ledger,
    boolean,
    check_fields,
    integer,
    notes_value,
    now,
    select_window,
)
from portal.sandbox.razorpay.store import Store, new_id

ACCOUNT_FIELDS = frozenset(
    {"email", "phone", "type", "reference_id", "legal_business_name",
     "customer_facing_business_name", "business_type", "contact_name", "profile", "legal_info",
     "notes", "contact_info", "apps"}
)  # fmt: skip
ACCOUNT_EDIT_FIELDS = frozenset(
    {"phone", "legal_business_name", "customer_facing_business_name", "contact_name", "profile",
     "legal_info", "notes", "contact_info", "apps"}
)  # fmt: skip
# payments/route/integration-guide, "Business Type".
BUSINESS_TYPES = (
    "llp", "ngo", "individual", "partnership", "proprietorship", "public_limited",
    "private_limited", "trust", "society", "not_yet_registered", "educational_institutes",
)  # fmt: skip
PRODUCT_FIELDS = frozenset({"product_name", "tnc_accepted"})
PRODUCT_EDIT_FIELDS = frozenset({"settlements", "tnc_accepted"})
SETTLEMENT_FIELDS = frozenset({"account_number", "ifsc_code", "beneficiary_name"})
TRANSFER_FIELDS = frozenset(
    {"account", "amount", "currency", "notes", "linked_account_notes", "on_hold",
     "on_hold_until"}
)  # fmt: skip
TRANSFER_EDIT_FIELDS = frozenset({"on_hold", "on_hold_until"})
REVERSAL_FIELDS = frozenset({"amount", "notes"})
LIST_TRANSFER_PARAMS = LIST_PARAMS | {"recipient_settlement_id"}
ACTIVATION_STATUSES = ("requested", "needs_clarification", "under_review", "activated",
                       "suspended")  # fmt: skip

IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
ACCOUNT_NUMBER_RE = re.compile(r"^[0-9A-Za-z]{5,20}$")
PHONE_RE = re.compile(r"^\+?[0-9]{8,15}$")
POSTAL_CODE_RE = re.compile(r"^[0-9]{6}$")
FEE_BASIS_POINTS = 25  # Route's fee per transfer: 0.25%, GST included

LINKED_ACCOUNT_MISSING = "Linked account does not exist"
PRODUCT_MISSING = "The provided product config id doesn't exist for the merchant"
NOT_CAPTURED = "Transfers can be created only for captured payments"
TOO_MUCH = "The sum of amount requested for transfer is greater than the captured amount"
NOT_ACTIVATED = "Transfers cannot be made to a linked account that is not activated"
NOT_PROCESSED = "The transfer has not been processed yet"
FULLY_REVERSED = "The transfer has been fully reversed already"
REVERSAL_TOO_MUCH = "The reversal amount provided is greater than the transferred amount left"
ALREADY_SETTLED = "The transfer has already been settled"
INSUFFICIENT_BALANCE = {
    "code": "BAD_REQUEST_TRANSFER_INSUFFICIENT_BALANCE",
    "description": "Transfer failed due to insufficient balance",
    "field": None, "source": "transfer", "step": "balance_check",
    "reason": "insufficient_balance",
}  # fmt: skip
NO_ERROR = dict.fromkeys(("code", "description", "field", "source", "step", "reason"))

Emit = Callable[..., Any]


def _linked_account_missing() -> ApiError:
    """Razorpay's answer to an unknown ``acc_`` id on the v2 account APIs (as documented)."""
    return ApiError(LINKED_ACCOUNT_MISSING, origin=("", "", "linked_account_id_does_not_exist"))


def _text(value: Any, field: str, minimum: int = 1, maximum: int = 255) -> str:
    if value is None or value == "":
        raise validation(f"The {field} field is required.", field)
    if not isinstance(value, str):
        raise validation(f"The {field} must be a string.", field)
    if not minimum <= len(value.strip()) <= maximum:
        raise validation(f"The {field} must be between {minimum} and {maximum} characters.",
                         field)  # fmt: skip
    return value.strip()


def _registered_address(profile: Any) -> dict:
    if not isinstance(profile, dict):
        raise validation("The profile field is required.", "profile")
    category = _text(profile.get("category"), "profile.category", 1, 60)
    subcategory = _text(profile.get("subcategory"), "profile.subcategory", 1, 60)
    addresses = profile.get("addresses")
    registered = addresses.get("registered") if isinstance(addresses, dict) else None
    if not isinstance(registered, dict):
        raise validation("The profile.addresses.registered field is required.",
                         "profile.addresses.registered")  # fmt: skip
    address = {
        "street1": _text(registered.get("street1"), "street1", 1, 100),
        "street2": _text(registered.get("street2") or "-", "street2", 1, 100),
        "city": _text(registered.get("city"), "city", 1, 100),
        "state": _text(registered.get("state"), "state", 2, 32),
        "postal_code": str(registered.get("postal_code") or ""),
        "country": _text(registered.get("country"), "country", 2, 64),
    }
    if not POSTAL_CODE_RE.match(address["postal_code"]):
        raise validation("The postal code must be 6 digits.", "postal_code")
    return {"category": category, "subcategory": subcategory,
            "addresses": {"registered": address}}  # fmt: skip


class Route:
    """Linked accounts, products, transfers, reversals and settlements over a Store.

    ``emit(event, payload, account_id=None)`` records a webhook; ``account_id`` is the
    envelope's when it is not the merchant's own (a linked account's settlement or product).
    """

    def __init__(self, store: Store, ledger: Ledger, emit: Emit, merchant_account_id: str):
        self.store = store
        self.ledger = ledger
        self.emit = emit
        self.initiator_id = merchant_account_id.removeprefix("acc_")

    @property
    def auto_process(self) -> bool:
        return bool(self.store.settings.get("auto_process_transfers", True))

    # -- linked accounts ---------------------------------------------------------------------

    def account(self, account_id: str) -> dict:
        account = self.store.accounts.get(account_id)
        if account is None:
            raise _linked_account_missing()
        return account

    def create_account(self, body: Mapping) -> dict:
        check_fields(body, ACCOUNT_FIELDS)
        email = _text(body.get("email"), "email", 3, 132)
        if "@" not in email:
            raise validation("The email must be a valid email address.", "email")
        phone = str(body.get("phone") or "")
        if not PHONE_RE.match(phone):
            raise validation("The phone must be between 8 and 15 digits.", "phone")
        if body.get("type") != "route":
            raise validation(f"Invalid type: {body.get('type')}", "type")
        business_type = body.get("business_type")
        if business_type not in BUSINESS_TYPES:
            raise validation(f"Invalid business type: {business_type}", "business_type")
        legal_name = _text(body.get("legal_business_name"), "legal_business_name", 4, 200)
        reference_id = body.get("reference_id")
        if reference_id is not None:
            reference_id = _text(reference_id, "reference_id", 1, 512)
        legal_info = body.get("legal_info") or {}
        if not isinstance(legal_info, dict):
            raise validation("The legal info must be an object.", "legal_info")
        account = {
            "id": new_id("acc"),
            "type": "route",
            "status": "created",
            "email": email,
            "profile": _registered_address(body.get("profile")),
            "notes": notes_value(body.get("notes")),
            "created_at": now(),
            "phone": phone,
            "contact_name": _text(body.get("contact_name") or legal_name, "contact_name", 1,
                                  255),
            "reference_id": reference_id,
            "business_type": business_type,
            "legal_business_name": legal_name,
            "customer_facing_business_name": _text(
                body.get("customer_facing_business_name") or legal_name,
                "customer_facing_business_name", 1, 255),
            "legal_info": dict(legal_info),
        }  # fmt: skip
        with self.store.lock:
            for other in self.store.accounts.values():
                if other["email"].lower() == email.lower():
                    raise validation(f"Merchant email already exists for account - {other['id']}",
                                     "email")  # fmt: skip
            self.store.accounts[account["id"]] = account
            self.store.save()
        return account

    def edit_account(self, account_id: str, body: Mapping) -> dict:
        check_fields(body, ACCOUNT_EDIT_FIELDS)
        with self.store.lock:
            account = self.account(account_id)
            if "phone" in body:
                phone = str(body.get("phone") or "")
                if not PHONE_RE.match(phone):
                    raise validation("The phone must be between 8 and 15 digits.", "phone")
                account["phone"] = phone
            for field, low, high in (("legal_business_name", 4, 200), ("contact_name", 1, 255),
                                     ("customer_facing_business_name", 1, 255)):
                if field in body:
                    account[field] = _text(body[field], field, low, high)
            if "profile" in body:
                account["profile"] = _registered_address(body["profile"])
            if "notes" in body:
                account["notes"] = notes_value(body["notes"])
            self.store.save()
            return account

    # -- the Route product -------------------------------------------------------------------

    def product(self, account_id: str, product_id: str) -> dict:
        self.account(account_id)
        product = self.store.products.get(product_id)
        if product is None or product["account_id"] != account_id:
            raise ApiError(PRODUCT_MISSING, origin=("NA", "NA", "NA"))
        return product

    def request_product(self, account_id: str, body: Mapping) -> dict:
        """The Route product of a linked account (the one made before, when asked again)."""
        check_fields(body, PRODUCT_FIELDS)
        if body.get("product_name") != "route":
            raise validation("The product name is invalid; only route is supported here.",
                             "product_name")  # fmt: skip
        accepted = boolean(body.get("tnc_accepted"), "tnc_accepted")
        with self.store.lock:
            self.account(account_id)
            for product in self.store.products.values():
                if product["account_id"] == account_id:
                    return product
            product = {
                "id": new_id("acc_prd"),
                "account_id": account_id,
                "product_name": "route",
                "activation_status": "needs_clarification",
                "settlements": dict.fromkeys(("account_number", "ifsc_code",
                                              "beneficiary_name")),
                "requirements": [],
                "tnc": {"id": new_id("tnc"), "accepted": bool(accepted),
                        "accepted_at": now() if accepted else None},
                "requested_at": now(),
            }  # fmt: skip
            product["requirements"] = self._requirements(product)
            self.store.products[product["id"]] = product
            self.store.save()
            return product

    def _requirements(self, product: dict) -> list[dict]:
        url = f"/accounts/{product['account_id']}/products/{product['id']}"
        return [{"field_reference": f"settlements.{name}", "resolution_url": url,
                 "reason_code": "field_missing", "status": "required"}
                for name in ("beneficiary_name", "account_number", "ifsc_code")
                if not product["settlements"].get(name)]  # fmt: skip

    def edit_product(self, account_id: str, product_id: str, body: Mapping) -> dict:
        """Bank details for settlements: complete and valid, the product is activated."""
        check_fields(body, PRODUCT_EDIT_FIELDS)
        settlements = body.get("settlements")
        if settlements is not None:
            if not isinstance(settlements, dict):
                raise validation("The settlements must be an object.", "settlements")
            check_fields(settlements, SETTLEMENT_FIELDS)
            number = str(settlements.get("account_number") or "")
            ifsc = str(settlements.get("ifsc_code") or "")
            if number and not ACCOUNT_NUMBER_RE.match(number):
                raise validation("The account number is invalid.", "settlements.account_number")
            if ifsc and not IFSC_RE.match(ifsc):
                raise validation("Invalid IFSC Code in Settlement Details",
                                 "settlements.ifsc_code")  # fmt: skip
            name = settlements.get("beneficiary_name")
            if name is not None:
                name = _text(name, "settlements.beneficiary_name", 4, 120)
        accepted = boolean(body.get("tnc_accepted"), "tnc_accepted")
        with self.store.lock:
            product = self.product(account_id, product_id)
            if product["activation_status"] == "suspended":
                raise ApiError("The product configuration of a suspended account cannot be "
                               "changed")  # fmt: skip
            if settlements is not None:
                product["settlements"].update({
                    key: value for key, value in (("account_number", number or None),
                                                  ("ifsc_code", ifsc or None),
                                                  ("beneficiary_name", name))
                    if value is not None})  # fmt: skip
            if accepted:
                product["tnc"].update(accepted=True, accepted_at=product["tnc"]["accepted_at"]
                                      or now())  # fmt: skip
            product["requirements"] = self._requirements(product)
            if not product["requirements"] and product["tnc"]["accepted"]:
                self._set_activation(product, "activated")
            self.store.save()
            return product

    def set_activation(self, account_id: str, status: str) -> dict:
        """/_sandbox: Razorpay's verification says ``status`` (sends product.route.<status>)."""
        if status not in ACTIVATION_STATUSES:
            raise validation(f"status must be one of {', '.join(ACTIVATION_STATUSES)}", "status")
        with self.store.lock:
            account = self.account(account_id)
            products = [p for p in self.store.products.values() if p["account_id"] == account_id]
            if not products:
                raise ApiError("The linked account has no route product yet.")
            account["status"] = "suspended" if status == "suspended" else "created"
            self._set_activation(products[0], status, force=True)
            self.store.save()
            return products[0]

    def _set_activation(self, product: dict, status: str, *, force: bool = False) -> None:
        if product["activation_status"] == status and not force:
            return
        product["activation_status"] = status
        requirements = None
        if status == "needs_clarification":
            url = f"/accounts/{product['account_id']}/products/{product['id']}"
            requirements = product["requirements"] or [
                {"field_reference": f"settlements.{name}", "resolution_url": url,
                 "reason_code": "needs_clarification",
                 "description": "Max retry exceeded for bank account details.",
                 "status": "required"}
                for name in ("ifsc_code", "beneficiary_name", "account_number")]  # fmt: skip
        if status in ("under_review", "needs_clarification", "activated"):
            self.emit(f"product.route.{status}", entities.product_payload(product, requirements),
                      account_id=product["account_id"])  # fmt: skip

    def _activated(self, account_id: str) -> bool:
        account = self.store.accounts.get(account_id)
        return account is not None and account["status"] != "suspended" and any(
            p["account_id"] == account_id and p["activation_status"] == "activated"
            for p in self.store.products.values())  # fmt: skip

    # -- transfers ---------------------------------------------------------------------------

    def transfer(self, transfer_id: str) -> dict:
        transfer = self.store.transfers.get(transfer_id)
        if transfer is None:
            raise not_found()
        return transfer

    def payment_transfers(self, payment_id: str) -> list[dict]:
        """A payment's transfers in the order they were made (fetch-transfers-payment)."""
        with self.store.lock:
            self.ledger.payment(payment_id)
            return [t for t in self.store.transfers.values() if t["source"] == payment_id]

    def list_transfers(self, params: Mapping[str, str]) -> list[dict]:
        """Newest first; ``recipient_settlement_id`` filters (fetch-transfers-for-a-settlement)."""
        with self.store.lock:
            transfers = list(self.store.transfers.values())
        settlement_id = params.get("recipient_settlement_id")
        if settlement_id is not None:
            transfers = [t for t in transfers if t["recipient_settlement_id"] == settlement_id]
        return select_window(transfers, params, LIST_TRANSFER_PARAMS)

    def _transfer_input(self, index: int, item: Any) -> dict:
        name = f"transfers.{index}"
        if not isinstance(item, dict):
            raise validation(f"The {name} must be an object.", name)
        check_fields(item, TRANSFER_FIELDS)
        account = item.get("account")
        if not account:
            raise validation(f"The {name}.account field is required.", f"{name}.account")
        amount = integer(item.get("amount"), f"{name}.amount")
        if amount < MIN_AMOUNT:
            raise validation(f"The {name}.amount must be at least {MIN_AMOUNT}.",
                             f"{name}.amount")  # fmt: skip
        currency = item.get("currency")
        if currency is None:
            raise validation(f"The {name}.currency field is required.", f"{name}.currency")
        if currency not in CURRENCIES:
            raise validation(f"The selected {name}.currency is invalid.", f"{name}.currency")
        notes = notes_value(item.get("notes"))
        shown = item.get("linked_account_notes") or []
        if not isinstance(shown, list) or any(key not in notes for key in shown):
            raise validation(f"The {name}.linked_account_notes must name keys of the notes.",
                             f"{name}.linked_account_notes")  # fmt: skip
        on_hold = bool(boolean(item.get("on_hold"), f"{name}.on_hold"))
        until = integer(item.get("on_hold_until"), f"{name}.on_hold_until", required=False)
        if until is not None and until <= now():
            raise validation(f"The {name}.on_hold_until must be a time in the future.",
                             f"{name}.on_hold_until")  # fmt: skip
        return {"account": account, "amount": amount, "currency": currency, "notes": notes,
                "linked_account_notes": list(shown), "on_hold": on_hold,
                "on_hold_until": until if on_hold else None}  # fmt: skip

    def create_transfers(self, payment_id: str, body: Mapping) -> list[dict]:
        """Transfers from a captured payment; all or none. Answers them as made (pending)."""
        check_fields(body, frozenset({"transfers"}))
        items = body.get("transfers")
        if not isinstance(items, list) or not items:
            raise validation("The transfers field is required.", "transfers")
        wanted = [self._transfer_input(i, item) for i, item in enumerate(items)]
        with self.store.lock:
            payment = self.ledger.payment(payment_id)
            if not payment["captured"]:
                raise ApiError(NOT_CAPTURED, metadata={"payment_id": payment_id})
            for i, item in enumerate(wanted):
                if item["account"] not in self.store.accounts:
                    raise validation(f"{item['account']} is not a valid id",
                                     f"transfers.{i}.account")  # fmt: skip
                if not self._activated(item["account"]):
                    raise ApiError(NOT_ACTIVATED, field=f"transfers.{i}.account",
                                   metadata={"account_id": item["account"]})  # fmt: skip
            transferred = sum(t["amount"] - t["amount_reversed"]
                              for t in self.store.transfers.values()
                              if t["source"] == payment_id and t["status"] != "failed")
            available = payment["amount"] - payment["amount_refunded"] - transferred
            if sum(item["amount"] for item in wanted) > available:
                raise validation(TOO_MUCH, "amount")
            made, answers = [], []
            for item in wanted:
                fee = item["amount"] * FEE_BASIS_POINTS // 10_000
                transfer = {
                    "id": new_id("trf"), "source": payment_id, "recipient": item["account"],
                    "amount": item["amount"], "currency": item["currency"],
                    "amount_reversed": 0, "fees": fee, "tax": round(fee * 18 / 118),
                    "notes": item["notes"], "linked_account_notes": item["linked_account_notes"],
                    "on_hold": item["on_hold"], "on_hold_until": item["on_hold_until"],
                    "status": "pending", "settlement_status": None,
                    "recipient_settlement_id": None, "created_at": now(), "processed_at": None,
                    "error": dict(NO_ERROR),
                }  # fmt: skip
                self.store.transfers[transfer["id"]] = transfer
                made.append(transfer)
                answers.append(entities.transfer_entity(transfer,
                                                        entities.TRANSFER_CREATE_KEYS))
            if self.auto_process:
                for transfer in made:
                    self._process(transfer, "processed")
            self.store.save()
            return answers

    def _process(self, transfer: dict, outcome: str) -> None:
        if outcome == "processed":
            transfer.update(status="processed", processed_at=now(),
                            settlement_status="on_hold" if transfer["on_hold"] else "pending")
        else:
            transfer.update(status="failed", error=dict(INSUFFICIENT_BALANCE))
        self.emit(f"transfer.{outcome}", entities.transfer_payload(transfer))

    def settle_transfer_status(self, transfer_id: str, outcome: str) -> dict:
        """/_sandbox: a pending transfer is processed or fails now (with its webhook)."""
        if outcome not in ("processed", "failed"):
            raise validation("status must be 'processed' or 'failed'", "status")
        with self.store.lock:
            transfer = self.transfer(transfer_id)
            if transfer["status"] != "pending":
                raise ApiError(f"Transfer {transfer_id} is already {transfer['status']}.",
                               metadata={"transfer_id": transfer_id})  # fmt: skip
            self._process(transfer, outcome)
            self.store.save()
            return transfer

    def edit_transfer(self, transfer_id: str, body: Mapping) -> dict:
        """Hold or release a transfer's settlement (modify-settlement-hold)."""
        check_fields(body, TRANSFER_EDIT_FIELDS)
        if body.get("on_hold") is None:
            raise validation("The on_hold field is required.", "on_hold")
        on_hold = bool(boolean(body.get("on_hold"), "on_hold"))
        until = integer(body.get("on_hold_until"), "on_hold_until", required=False)
        with self.store.lock:
            transfer = self.transfer(transfer_id)
            if transfer["settlement_status"] == "settled":
                raise ApiError(ALREADY_SETTLED, metadata={"transfer_id": transfer_id})
            if transfer["status"] == "failed":
                raise ApiError(NOT_PROCESSED, metadata={"transfer_id": transfer_id})
            transfer["on_hold"] = on_hold
            transfer["on_hold_until"] = until if on_hold else None
            if transfer["status"] != "pending":
                transfer["settlement_status"] = "on_hold" if on_hold else "pending"
            self.store.save()
            return transfer

    # -- reversals ---------------------------------------------------------------------------

    def reverse(self, transfer_id: str, body: Mapping) -> dict:
        """Take part (``amount``) or the rest of a processed transfer back (reverse-a-transfer)."""
        check_fields(body, REVERSAL_FIELDS)
        amount = integer(body.get("amount"), "amount", required=False, minimum=1)
        notes = notes_value(body.get("notes"))
        with self.store.lock:
            transfer = self.transfer(transfer_id)
            if transfer["status"] not in ("processed", "partially_reversed"):
                raise ApiError(FULLY_REVERSED if transfer["status"] == "reversed"
                               else NOT_PROCESSED, metadata={"transfer_id": transfer_id})
            left = transfer["amount"] - transfer["amount_reversed"]
            amount = left if amount is None else amount
            if amount > left:
                raise validation(REVERSAL_TOO_MUCH, "amount")
            reversal = {
                "id": new_id("rvrsl"), "transfer_id": transfer_id, "amount": amount,
                "currency": transfer["currency"], "notes": notes,
                "initiator_id": self.initiator_id, "created_at": now(),
            }  # fmt: skip
            self.store.reversals[reversal["id"]] = reversal
            transfer["amount_reversed"] += amount
            transfer["status"] = ("reversed" if transfer["amount_reversed"] >= transfer["amount"]
                                  else "partially_reversed")
            self.store.save()
            return reversal

    def transfer_reversals(self, transfer_id: str) -> list[dict]:
        with self.store.lock:
            self.transfer(transfer_id)
            return [r for r in self.store.reversals.values() if r["transfer_id"] == transfer_id]

    # -- settlements -------------------------------------------------------------------------

    def settlement(self, settlement_id: str) -> dict:
        settlement = self.store.settlements.get(settlement_id)
        if settlement is None:
            raise not_found()
        return settlement

    def run_settlements(self, account_id: str | None = None) -> list[dict]:
        """/_sandbox: settle every released, processed transfer, one settlement per linked
        account (of ``account_id`` only, when given), each with ``settlement.processed``."""
        with self.store.lock:
            due: dict[str, list[dict]] = {}
            for transfer in self.store.transfers.values():
                if transfer["status"] in ("processed", "partially_reversed") \
                        and not transfer["on_hold"] \
                        and transfer["settlement_status"] != "settled" \
                        and account_id in (None, transfer["recipient"]):
                    due.setdefault(transfer["recipient"], []).append(transfer)
            made = []
            for recipient, transfers in due.items():
                settlement = {
                    "id": new_id("setl"),
                    "account_id": recipient,
                    "amount": sum(t["amount"] - t["amount_reversed"] for t in transfers),
                    "status": "processed", "fees": 0, "tax": 0,
                    "utr": "SBINR5" + "".join(secrets.choice(string.digits) for _ in range(11)),
                    "created_at": now(),
                }  # fmt: skip
                self.store.settlements[settlement["id"]] = settlement
                for transfer in transfers:
                    transfer.update(settlement_status="settled",
                                    recipient_settlement_id=settlement["id"])
                self.emit("settlement.processed", entities.settlement_payload(settlement),
                          account_id=recipient)
                made.append(settlement)
            self.store.save()
            return made
